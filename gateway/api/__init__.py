"""The local socket API: its sans-IO wire protocol (``protocol``) and the daemon's Unix socket
server over it (``server``). ``docs/protocol.md`` is the contract for client writers."""
