//! Decorators: heap objects applied by using their name as a key on another object or a
//! route (`"capture": "all"`, `"baseURI": "http://app:8081"`, `"timer": true`).

mod base_uri;
mod capture;
pub(crate) mod log_sink;
mod timer;

use gatehouse_config::Registry;

pub use capture::redacted;

pub(crate) fn register(registry: &mut Registry) {
    registry.register(&["CaptureDecorator"], capture::build);
    registry.register(&["BaseUriDecorator"], base_uri::build);
    registry.register(&["TimerDecorator"], timer::build);
    registry.default_object("capture", "CaptureDecorator");
    registry.default_object("baseURI", "BaseUriDecorator");
    registry.default_object("timer", "TimerDecorator");
    registry.register(&["ConsoleLogSink", "FileLogSink", "Slf4jLogSink"], log_sink::build);
    registry.default_object("LogSink", "ConsoleLogSink");
}
