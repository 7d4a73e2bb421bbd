# Sourced by the scripts: installs Debian packages, as root or through sudo, when any is named.
#   install_packages "${need[@]}"
install_packages() {
  (($# > 0)) || return 0
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing: $*"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@"
}
