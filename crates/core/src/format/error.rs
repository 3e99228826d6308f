//! The error every pure parser and check returns; `src/types/error.rs` raises it as an ERROR.

use std::fmt;

/// The SQLSTATEs ruvector's type functions raise (PostgreSQL Appendix A, "Error Codes").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SqlState {
    /// 22000 data_exception
    DataException,
    /// 22P02 invalid_text_representation
    InvalidTextRepresentation,
    /// 22003 numeric_value_out_of_range
    NumericValueOutOfRange,
    /// 22023 invalid_parameter_value
    InvalidParameterValue,
    /// 22004 null_value_not_allowed
    NullValueNotAllowed,
    /// 54000 program_limit_exceeded
    ProgramLimitExceeded,
    /// 08P01 protocol_violation (PostgreSQL's `pq_getmsg*` on a short message)
    ProtocolViolation,
    /// 22P03 invalid_binary_representation
    InvalidBinaryRepresentation,
    /// 0A000 feature_not_supported
    FeatureNotSupported,
    /// XX000 internal_error (a corrupt aggregate state, as pgvector's `elog(ERROR)`)
    InternalError,
    /// XX002 index_corrupted
    IndexCorrupted,
    /// 42501 insufficient_privilege
    InsufficientPrivilege,
    /// 42P01 undefined_table
    UndefinedTable,
    /// 55000 object_not_in_prerequisite_state
    ObjectNotInPrerequisiteState,
    /// 25006 read_only_sql_transaction
    ReadOnlySqlTransaction,
}

impl SqlState {
    pub fn code(self) -> &'static str {
        match self {
            SqlState::DataException => "22000",
            SqlState::InvalidTextRepresentation => "22P02",
            SqlState::NumericValueOutOfRange => "22003",
            SqlState::InvalidParameterValue => "22023",
            SqlState::NullValueNotAllowed => "22004",
            SqlState::ProgramLimitExceeded => "54000",
            SqlState::ProtocolViolation => "08P01",
            SqlState::InvalidBinaryRepresentation => "22P03",
            SqlState::FeatureNotSupported => "0A000",
            SqlState::InternalError => "XX000",
            SqlState::IndexCorrupted => "XX002",
            SqlState::InsufficientPrivilege => "42501",
            SqlState::UndefinedTable => "42P01",
            SqlState::ObjectNotInPrerequisiteState => "55000",
            SqlState::ReadOnlySqlTransaction => "25006",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VecError {
    pub state: SqlState,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

impl VecError {
    pub fn new(state: SqlState, message: impl Into<String>) -> VecError {
        VecError {
            state,
            message: message.into(),
            detail: None,
            hint: None,
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> VecError {
        self.detail = Some(detail.into());
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> VecError {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for VecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.state.code(), self.message)?;
        if let Some(d) = &self.detail {
            write!(f, " (DETAIL: {d})")?;
        }
        if let Some(h) = &self.hint {
            write!(f, " (HINT: {h})")?;
        }
        Ok(())
    }
}

impl std::error::Error for VecError {}
