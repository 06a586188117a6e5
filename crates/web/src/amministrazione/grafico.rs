//! The traffic chart of the provider's panel: legal-log events per hour over the last 24
//! hours, in three series (messages, receipts, errors), drawn on the server as SVG so the
//! page needs no script; colours come from classes in `pecora.css`, sizes from SVG
//! attributes, nothing inline.

/// The three series, and the log kinds each counts (as `engine::legal::event_kind` names
/// them; a receipt received from another gestore is logged as `ricevuta-<kind>` and counts
/// as its kind).
pub const SERIE: [(&str, &[&str]); 3] = [
    ("messaggi", &["posta-certificata"]),
    (
        "ricevute",
        &["accettazione", "presa-in-carico", "avvenuta-consegna"],
    ),
    (
        "errori",
        &[
            "non-accettazione",
            "errore-consegna",
            "preavviso-errore-consegna",
            "anomalia",
            "rilevazione-virus",
        ],
    ),
];

const ORE: usize = 24;
const ALTEZZA: u64 = 160;
const LARGHEZZA_ORA: u64 = 24;
const BARRA: u64 = 6;

/// One bar of the chart.
pub struct Barra {
    pub serie: &'static str,
    pub ora: String,
    pub conteggio: u64,
    pub x: u64,
    pub y: u64,
    pub altezza: u64,
}

/// The chart, ready for the template.
pub struct Grafico {
    pub larghezza: u64,
    pub altezza: u64,
    pub barre: Vec<Barra>,
    /// Totals per series, in the order of [`SERIE`].
    pub totali: [u64; 3],
    /// Hour labels every 6 hours: (x, `HH`).
    pub etichette: Vec<(u64, String)>,
}

/// The chart of `counts` ((hour, kind, count) as the store gives them) for the 24 hours
/// ending with the hour that holds `now`.
pub fn grafico(counts: &[(i64, String, u64)], now: i64) -> Grafico {
    let first = now - now.rem_euclid(3600) - 3600 * (ORE as i64 - 1);
    let mut per_ora = [[0u64; 3]; ORE];
    for (hour, kind, n) in counts {
        let slot = (hour - first).div_euclid(3600);
        let kind = kind.strip_prefix("ricevuta-").unwrap_or(kind);
        let serie = SERIE.iter().position(|(_, kinds)| kinds.contains(&kind));
        if let (Ok(slot @ 0..ORE), Some(s)) = (usize::try_from(slot), serie) {
            per_ora[slot][s] += n;
        }
    }
    let massimo = per_ora.iter().flatten().copied().max().unwrap_or(0).max(1);
    let tz = jiff::tz::TimeZone::get("Europe/Rome").unwrap_or(jiff::tz::TimeZone::UTC);
    let ora = |slot: usize| {
        jiff::Timestamp::from_second(first + 3600 * slot as i64)
            .map(|t| t.to_zoned(tz.clone()).strftime("%H").to_string())
            .unwrap_or_default()
    };
    let mut barre = Vec::new();
    let mut totali = [0u64; 3];
    for (slot, valori) in per_ora.iter().enumerate() {
        for (s, n) in valori.iter().enumerate() {
            totali[s] += n;
            let altezza = n * (ALTEZZA - 20) / massimo;
            barre.push(Barra {
                serie: SERIE[s].0,
                ora: ora(slot),
                conteggio: *n,
                x: slot as u64 * LARGHEZZA_ORA + 3 + s as u64 * BARRA,
                y: ALTEZZA - 16 - altezza,
                altezza,
            });
        }
    }
    Grafico {
        larghezza: ORE as u64 * LARGHEZZA_ORA,
        altezza: ALTEZZA,
        barre,
        totali,
        etichette: (0..ORE)
            .step_by(6)
            .map(|slot| (slot as u64 * LARGHEZZA_ORA + 2, ora(slot)))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_land_in_their_hour_and_series() {
        let now = 1_772_438_400 + 1800; // half past an hour
        let this_hour = now - 1800;
        let counts = vec![
            (this_hour, "posta-certificata".to_string(), 4),
            (this_hour, "accettazione".to_string(), 1),
            (this_hour, "ricevuta-avvenuta-consegna".to_string(), 1),
            (this_hour - 3600, "anomalia".to_string(), 1),
            (this_hour - 3600 * 30, "posta-certificata".to_string(), 9),
            (this_hour, "admin-stato".to_string(), 5),
        ];
        let g = grafico(&counts, now);
        assert_eq!(g.totali, [4, 2, 1]);
        assert_eq!(g.barre.len(), 72);
        let last = &g.barre[69];
        assert_eq!((last.serie, last.conteggio), ("messaggi", 4));
        assert_eq!(
            last.altezza,
            ALTEZZA - 20,
            "the tallest bar fills the chart"
        );
        let before = &g.barre[68];
        assert_eq!((before.serie, before.conteggio), ("errori", 1));
        assert_eq!((g.barre[67].conteggio, g.barre[67].altezza), (0, 0));
    }
}
