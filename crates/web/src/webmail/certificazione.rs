//! Whether a stored PEC message's gestore signature holds, for the banner above it: the
//! S/MIME signature must verify over the message as stored, the signer certificate must not
//! fail the chain to `[trust]`, and the provider index must list it byte for byte (spec
//! §4.2 step 2, the same tests the punto di ricezione applies on arrival); the provider is
//! named as the index names it. Checked again on every view: a message altered in the
//! store after delivery shows the failure.

use engine::Engine;

/// The verdict the banner shows.
#[derive(Debug, Clone)]
pub struct Firma {
    /// Green banner: signature, chain and index all hold.
    pub valida: bool,
    /// The signing provider's name in the index, when `valida`.
    pub gestore: Option<String>,
    /// Why not, when not `valida`.
    pub motivo: Option<String>,
}

/// Checks the top-level signature of `raw` against the engine's trust store and index
/// ([`Engine::origin`], the test the punto di ricezione applies).
pub fn verifica(engine: &Engine, raw: &[u8]) -> Firma {
    let origin = engine.origin(raw);
    match origin.listed {
        Some(p) => Firma {
            valida: true,
            gestore: Some(p.name),
            motivo: None,
        },
        None => Firma {
            valida: false,
            gestore: None,
            motivo: Some(origin.problem),
        },
    }
}
