//! Handlers that answer by themselves or dispatch to other handlers.

mod chain;
mod dispatch;
mod static_response;
mod status;
mod welcome;

use gatehouse_config::Registry;

pub use dispatch::DispatchHandler;
pub use static_response::StaticResponseHandler;
pub use welcome::WelcomeHandler;

pub(crate) fn register(registry: &mut Registry) {
    registry.register(&["StaticResponseHandler"], static_response::build);
    registry.register(&["DispatchHandler"], dispatch::build);
    registry.register(&["Chain"], chain::build);
    registry.register(&["WelcomeHandler"], welcome::build);
    registry.register(&["StatusHandler"], status::build);
}
