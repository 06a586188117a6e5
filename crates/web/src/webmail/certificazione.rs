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

impl Firma {
    fn rifiutata(motivo: String) -> Firma {
        Firma {
            valida: false,
            gestore: None,
            motivo: Some(motivo),
        }
    }
}

/// Checks the top-level signature of `raw` against the engine's trust store and index.
pub fn verifica(engine: &Engine, raw: &[u8]) -> Firma {
    let verdict = smime::verify(raw, engine.trust());
    let error = || verdict.error.clone().unwrap_or_default();
    if !verdict.signed {
        return Firma::rifiutata(format!("messaggio non firmato ({})", error()));
    }
    if !verdict.signature_valid {
        return Firma::rifiutata(format!("firma non valida ({})", error()));
    }
    if verdict.chain_trusted == Some(false) {
        return Firma::rifiutata(format!(
            "certificato di firma non attendibile ({})",
            error()
        ));
    }
    let index = engine.index();
    let listed = verdict.signer.as_ref().and_then(|s| {
        index
            .provider_by_hash(&s.sha1_fingerprint)
            .filter(|p| p.has_certificate(&s.der))
    });
    match listed {
        Some(p) => Firma {
            valida: true,
            gestore: Some(p.name.clone()),
            motivo: None,
        },
        None => Firma::rifiutata(
            "firmato da un certificato che non appartiene ad alcun gestore dell'indice".into(),
        ),
    }
}
