"""XEP-0050 ad-hoc commands at the component's JID, with XEP-0004 data forms."""
