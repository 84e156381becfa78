//! Why a connection closed: nats-server's `ClosedState` values and the
//! strings `/connz?state=closed` shows (`docs/operations.md#closed-connections`).

/// The reason a connection was closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClosedState {
    ClientClosed,
    AuthenticationTimeout,
    AuthenticationViolation,
    TlsHandshakeError,
    SlowConsumerPendingBytes,
    SlowConsumerWriteDeadline,
    WriteError,
    ReadError,
    ParseError,
    StaleConnection,
    ProtocolViolation,
    BadClientProtocolVersion,
    WrongPort,
    MaxConnectionsExceeded,
    MaxAccountConnectionsExceeded,
    MaxPayloadExceeded,
    MaxControlLineExceeded,
    MaxSubscriptionsExceeded,
    DuplicateRoute,
    RouteRemoved,
    ServerShutdown,
    AuthenticationExpired,
    NoRespondersRequiresHeaders,
    ClusterNameConflict,
    DuplicateServerName,
}

impl ClosedState {
    /// nats-server's text for this reason.
    pub fn as_str(self) -> &'static str {
        use ClosedState::*;
        match self {
            ClientClosed => "Client Closed",
            AuthenticationTimeout => "Authentication Timeout",
            AuthenticationViolation => "Authentication Failure",
            TlsHandshakeError => "TLS Handshake Failure",
            SlowConsumerPendingBytes => "Slow Consumer (Pending Bytes)",
            SlowConsumerWriteDeadline => "Slow Consumer (Write Deadline)",
            WriteError => "Write Error",
            ReadError => "Read Error",
            ParseError => "Parse Error",
            StaleConnection => "Stale Connection",
            ProtocolViolation => "Protocol Violation",
            BadClientProtocolVersion => "Bad Client Protocol Version",
            WrongPort => "Incorrect Port",
            MaxConnectionsExceeded => "Maximum Connections Exceeded",
            MaxAccountConnectionsExceeded => "Maximum Account Connections Exceeded",
            MaxPayloadExceeded => "Maximum Message Payload Exceeded",
            MaxControlLineExceeded => "Maximum Control Line Exceeded",
            MaxSubscriptionsExceeded => "Maximum Subscriptions Exceeded",
            DuplicateRoute => "Duplicate Route",
            RouteRemoved => "Route Removed",
            ServerShutdown => "Server Shutdown",
            AuthenticationExpired => "Authentication Expired",
            NoRespondersRequiresHeaders => "No Responders Requires Headers",
            ClusterNameConflict => "Cluster Name Conflict",
            DuplicateServerName => "Duplicate Server Name",
        }
    }

    /// The state for a parser error's closed-reason text.
    pub fn from_protocol(reason: &str) -> ClosedState {
        match reason {
            "Maximum Control Line Exceeded" => ClosedState::MaxControlLineExceeded,
            "Maximum Message Payload Exceeded" => ClosedState::MaxPayloadExceeded,
            _ => ClosedState::ProtocolViolation,
        }
    }

    /// Whether what is already queued should still be sent before closing
    /// (an `-ERR`, a final INFO). Slow consumers and dead sockets drop it.
    pub fn flushes(self) -> bool {
        !matches!(
            self,
            ClosedState::SlowConsumerPendingBytes
                | ClosedState::SlowConsumerWriteDeadline
                | ClosedState::WriteError
                | ClosedState::ReadError
                | ClosedState::ClientClosed
        )
    }
}

impl std::fmt::Display for ClosedState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
