//! Gatehouse's handlers, filters and decorators, and their registration by type name.
//!
//! | type | kind |
//! |---|---|
//! | `StaticResponseHandler`, `DispatchHandler`, `Chain`, `WelcomeHandler` | handlers |
//! | `ReverseProxyHandler`, `ClientHandler` | handlers that call an upstream |
//! | `AssignmentFilter`, `HeaderFilter` | filters |
//! | `CaptureDecorator` (`capture`), `BaseUriDecorator` (`baseURI`), `TimerDecorator` (`timer`) | decorators |

pub mod decorators;
pub mod entity;
pub mod filters;
pub mod handlers;
mod headers;
pub mod proxy;
pub mod uri;

use gatehouse_config::Registry;

pub use headers::HeaderTemplates;

/// Registers every type of this crate, and the default objects that use them.
pub fn register(registry: &mut Registry) {
    handlers::register(registry);
    filters::register(registry);
    decorators::register(registry);
    proxy::register(registry);
}
