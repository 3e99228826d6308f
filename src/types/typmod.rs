//! Arguments of the type-support functions: the `cstring[]` of a type modifier (`typmod_in`) and
//! the `StringInfo` message a `recv` function reads.

use super::arrays::RawArray;
use super::error::OrRaise;
use crate::format::{check_typmod, TypeNames};
use pgrx::datum::{FromDatum, Internal};
use pgrx::pg_sys;
use pgrx::pgrx_sql_entity_graph::metadata::{
    ArgumentError, ReturnsError, ReturnsRef, SqlMappingRef, SqlTranslatable, TypeOrigin,
};

/// The `cstring[]` argument of a `typmod_in` function.
pub struct TypmodList(RawArray);

impl TypmodList {
    /// The single dimension count the modifier names, checked against `1..=max`.
    pub fn dimensions(&self, names: TypeNames, max: i32) -> i32 {
        check_typmod(names, &self.0.typmods(), max).or_raise()
    }
}

impl FromDatum for TypmodList {
    unsafe fn from_polymorphic_datum(
        datum: pg_sys::Datum,
        is_null: bool,
        typoid: pg_sys::Oid,
    ) -> Option<Self> {
        // SAFETY: the caller's contract, passed on (a cstring[] datum or NULL).
        unsafe { RawArray::from_polymorphic_datum(datum, is_null, typoid) }.map(TypmodList)
    }
}

super::varlena::arg_abi_via_from_datum!(TypmodList);

// SAFETY: a typmod list is a `cstring[]` datum, which is what `TypmodList` reads.
unsafe impl SqlTranslatable for TypmodList {
    const TYPE_IDENT: &'static str = "ruvector::types::TypmodList";
    const TYPE_ORIGIN: TypeOrigin = TypeOrigin::External;
    const ARGUMENT_SQL: Result<SqlMappingRef, ArgumentError> =
        Ok(SqlMappingRef::literal("cstring[]"));
    const RETURN_SQL: Result<ReturnsRef, ReturnsError> = Err(ReturnsError::Datum);
}

/// Runs a binary decoder on the unread part of a `recv` function's message and advances the
/// message's cursor past what it consumed (PostgreSQL checks a field was read completely).
pub fn receive<T>(buf: Internal, decode: impl FnOnce(&[u8]) -> (T, usize)) -> T {
    let datum = buf.unwrap().expect("recv called without a message");
    let msg = datum.cast_mut_ptr::<pg_sys::StringInfoData>();
    // SAFETY: a recv function's first argument is a StringInfo whose `data[cursor..len]` is the
    // unread part of the message.
    unsafe {
        let (cursor, len) = ((*msg).cursor as usize, (*msg).len as usize);
        let bytes = std::slice::from_raw_parts((*msg).data.cast::<u8>().add(cursor), len - cursor);
        let (value, used) = decode(bytes);
        (*msg).cursor += used as i32;
        value
    }
}
