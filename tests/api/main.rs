//! Integration tests: the real server on a free port, a fresh database per
//! test, each test run on SQLite and on PostgreSQL.

mod helpers;

mod announcements;
mod authz;
mod bad_input;
mod checkout;
mod clips;
mod cluster;
mod creators;
mod health;
mod limits;
mod live;
mod ll_hls;
mod media;
mod pages;
mod products;
mod recovery;
mod sessions;
mod shipping;
mod shows;
mod stream_health;
mod trust;
mod webhooks;
