//! stub for isolated server builds
