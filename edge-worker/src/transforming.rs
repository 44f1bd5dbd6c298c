//! A mark around the synchronous transform, for entry.mjs's recovery of a trapped instance.

/// Marks the synchronous transform in a JS global (`__refractTransforming`). JS runs one thing
/// at a time, so when a request arrives and finds the mark set, the transform that set it
/// never returned: the instance trapped (out of memory, a panic), and entry.mjs rebuilds it
/// before handing it the request.
pub struct Transforming;

impl Transforming {
    const MARK: &'static str = "__refractTransforming";

    pub fn enter() -> Transforming {
        Transforming::set(true);
        Transforming
    }

    fn set(on: bool) {
        let global = worker::js_sys::global();
        let _ = worker::js_sys::Reflect::set(&global, &Self::MARK.into(), &on.into());
    }
}

impl Drop for Transforming {
    fn drop(&mut self) {
        Transforming::set(false);
    }
}
