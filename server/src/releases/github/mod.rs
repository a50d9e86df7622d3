//! The GitHub integration (spec/RELEASES.md §7): signed deliveries in, decisions out as commit
//! statuses and pull-request comments.

pub mod comment;
pub mod events;
pub mod report;
pub mod retry;
pub mod signature;
