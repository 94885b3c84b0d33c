"""Room rules: clientState, notifications, renewal timing, echo detection, outbound events, users directory."""
