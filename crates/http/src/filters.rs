//! Filters that change the exchange on its way in or out.

mod assignment;
mod header;
mod switch;

use gatehouse_config::Registry;

pub(crate) fn register(registry: &mut Registry) {
    registry.register(&["AssignmentFilter"], assignment::build);
    registry.register(&["HeaderFilter"], header::build);
    registry.register(&["SwitchFilter"], switch::build);
}
