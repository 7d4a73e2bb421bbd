//! Filters that change the exchange on its way in or out.

mod assignment;
mod header;

use gatehouse_config::Registry;

pub(crate) fn register(registry: &mut Registry) {
    registry.register(&["AssignmentFilter"], assignment::build);
    registry.register(&["HeaderFilter"], header::build);
}
