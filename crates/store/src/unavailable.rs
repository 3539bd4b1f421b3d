//! Which database failures mean "the database cannot be reached right now" (down, restarting,
//! a connection cut or a pool that cannot get one) rather than "this request is wrong" or "a
//! bug": the server answers the first kind 503 with a reason, so clients retry, and logs the
//! second as an internal error.

/// Whether `e` says the database is unreachable for now.
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // PostgreSQL: class 08 (connection exception), 57P01 admin_shutdown (the server
            // is stopping or terminated this session), 57P02 crash_shutdown, 57P03
            // cannot_connect_now (starting up).
            code.starts_with("08") || matches!(code.as_ref(), "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::is_unavailable;

    #[test]
    fn a_lost_connection_is_unavailable_and_a_bad_query_is_not() {
        assert!(is_unavailable(&sqlx::Error::PoolTimedOut));
        assert!(is_unavailable(&sqlx::Error::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset
        ))));
        assert!(!is_unavailable(&sqlx::Error::RowNotFound));
        assert!(!is_unavailable(&sqlx::Error::ColumnNotFound("x".into())));
    }
}
