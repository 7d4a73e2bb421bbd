//! Filters that change the exchange on its way in or out.

mod assignment;
mod combinators;
mod cookie;
mod cors;
mod header;
mod static_request;
mod switch;
mod throttling;
mod transaction_id;
mod uri_path_rewrite;

use gatehouse_config::Registry;

pub(crate) fn register(registry: &mut Registry) {
    registry.register(&["AssignmentFilter"], assignment::build);
    registry.register(&["HeaderFilter"], header::build);
    registry.register(&["SwitchFilter"], switch::build);
    registry.register(&["ChainOfFilters"], combinators::build_chain_of_filters);
    registry.register(&["ConditionalFilter"], combinators::build_conditional);
    registry.register(&["UriPathRewriteFilter"], uri_path_rewrite::build);
    registry.register(&["StaticRequestFilter"], static_request::build);
    registry.register(&["TransactionIdOutboundFilter"], transaction_id::build);
    registry.register(&["ThrottlingFilter"], throttling::build);
    registry.register(&["CorsFilter"], cors::build);
    registry.register(&["CookieFilter"], cookie::build);
    registry.register(&["MappedThrottlingPolicy"], throttling::build_mapped);
    registry.register(&["DefaultRateThrottlingPolicy"], throttling::build_default);
    registry.register(&["ForgeRockClientHandler"], transaction_id::build_forgerock_client);
    registry.default_object("TransactionIdOutboundFilter", "TransactionIdOutboundFilter");
    registry.default_object("ForgeRockClientHandler", "ForgeRockClientHandler");
}
