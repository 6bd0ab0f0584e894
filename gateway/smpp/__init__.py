"""SMPP 3.4: a sans-IO PDU codec and session state machine, the thin trio layer that runs operator
links over them, and the bundled SMSC simulator."""
