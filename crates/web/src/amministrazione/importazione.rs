//! Bulk imports (seed 003) run as background tasks, so that a file of thousands of rows
//! does not hold the request: the upload starts a job and redirects to its progress page,
//! which refreshes itself until the per-row report is there.
//!
//! A job belongs to the session that started it (another session, even of the same admin,
//! gets a 404), lives in memory only, and holds the initial passwords until its report is
//! downloaded as CSV: after that the job is gone, passwords with it — they are shown once.
//! A job nobody downloads is forgotten after [`CONSERVAZIONE`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use engine::Engine;
use engine::amministrazione::{Rifiuto, RigaLetta};
use store::{Admin, MailboxKind};

/// How long a job and its report stay (a day: time enough to print the letters).
pub const CONSERVAZIONE: Duration = Duration::from_secs(24 * 3600);

/// What became of one row.
#[derive(Debug, Clone)]
pub enum Esito {
    /// The box was created; its initial password.
    Creata(String),
    Rifiutata(Rifiuto),
    /// The server failed on this row (logged); the box may or may not exist.
    Errore,
}

/// One row of the report.
#[derive(Debug, Clone)]
pub struct RigaEsito {
    /// The line of the file (the header is line 1).
    pub riga: usize,
    pub indirizzo: String,
    pub esito: Esito,
}

/// One import, running or done.
pub struct Importazione {
    /// The session that started it.
    pub sessione: String,
    pub totale: usize,
    iniziata: Instant,
    fatte: AtomicUsize,
    finita: AtomicBool,
    esiti: Mutex<Vec<RigaEsito>>,
}

impl Importazione {
    pub fn fatte(&self) -> usize {
        self.fatte.load(Ordering::Acquire)
    }

    pub fn finita(&self) -> bool {
        self.finita.load(Ordering::Acquire)
    }

    /// The report so far, by row.
    pub fn esiti(&self) -> Vec<RigaEsito> {
        self.esiti.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Every import of this process, by id.
#[derive(Default)]
pub struct Importazioni {
    by_id: Mutex<HashMap<String, Arc<Importazione>>>,
}

/// What a job needs to create the boxes.
pub struct Parametri {
    pub admin: Admin,
    pub tipo: MailboxKind,
    pub quota: u64,
    pub scadenza: i64,
}

impl Importazioni {
    /// Starts importing `righe` (as [`engine::amministrazione::leggi_csv`] read them) for
    /// session `sessione`; returns the job's id.
    pub fn avvia(
        &self,
        engine: Arc<Engine>,
        sessione: &str,
        righe: Vec<RigaLetta>,
        p: Parametri,
    ) -> String {
        let id = crate::session::random_token();
        let job = Arc::new(Importazione {
            sessione: sessione.to_string(),
            totale: righe.len(),
            iniziata: Instant::now(),
            fatte: AtomicUsize::new(0),
            finita: AtomicBool::new(false),
            esiti: Mutex::new(Vec::new()),
        });
        {
            let mut jobs = self.lock();
            jobs.retain(|_, j| j.iniziata.elapsed() < CONSERVAZIONE);
            jobs.insert(id.clone(), job.clone());
        }
        tokio::spawn(async move {
            for (riga, letta) in righe {
                let (indirizzo, esito) = match letta {
                    Ok(r) => {
                        let esito = match engine
                            .importa_riga(&p.admin, &r, p.tipo, p.quota, p.scadenza)
                            .await
                        {
                            Ok(Ok(password)) => Esito::Creata(password),
                            Ok(Err(why)) => Esito::Rifiutata(why),
                            Err(e) => {
                                tracing::error!(error = %e, row = riga, "bulk import row failed");
                                Esito::Errore
                            }
                        };
                        (r.indirizzo, esito)
                    }
                    Err(why) => (String::new(), Esito::Rifiutata(why)),
                };
                job.esiti
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(RigaEsito {
                        riga,
                        indirizzo,
                        esito,
                    });
                job.fatte.fetch_add(1, Ordering::Release);
            }
            job.finita.store(true, Ordering::Release);
        });
        id
    }

    /// The job `id` if session `sessione` started it.
    pub fn di(&self, id: &str, sessione: &str) -> Option<Arc<Importazione>> {
        self.lock()
            .get(id)
            .filter(|j| j.sessione == sessione)
            .cloned()
    }

    /// Forgets a job (its report was downloaded).
    pub fn dimentica(&self, id: &str) {
        self.lock().remove(id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Importazione>>> {
        self.by_id.lock().unwrap_or_else(|e| e.into_inner())
    }
}
