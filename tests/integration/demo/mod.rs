//! Demo mode, black-box: the synthetic feeds published by the server into its own SFU.

mod feeds;
