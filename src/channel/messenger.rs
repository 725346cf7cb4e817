//! Facebook Messenger: webhook verification, signed event intake and the
//! Send API.
