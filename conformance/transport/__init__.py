"""How the suite talks to a gateway: the `Exchange` record, `GatewayClient` (budget, rate cap,
deadline, capped bodies, no redirects), redaction, WebSocket handshakes and the official SDK."""
