"""Everything the patched LiteLLM proxy runs of ours, as ordinary modules.

LiteLLM's patched files import the thin entry modules in overlay/litellm/, which
delegate here: middleware (per-request session headers), metadata (merge and
proxy-wide defaults), redaction (credentials never logged), span_attributes
(session.* on Phoenix spans), root_span (what the root span keeps; time to first
token), extra_prices (prices for models newer than the maps),
config (the proxy configuration the stack renders).
"""
