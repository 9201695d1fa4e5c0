//! The local API's error: an HTTP status, a snake_case code a client branches
//! on, a message in Italian that tells the operator what to do, and extra
//! fields (`attempts_left`, `locked_until`, ...). Shaped as in agent-api.md:
//! `{"error": {"code", "message", "retryable", ...}}`.
//!
//! The counter's refusals ([`CounterError`]) become API errors here, in one
//! place: the counter itself knows no HTTP status and no message text.

use serde_json::{json, Map, Value};

use crate::counter::{
    BackendCall, BadAnswer, CounterError, WrongState, MAX_CHANGE_CENTS, PAYMENT_TOKEN_MARGIN,
};

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub retryable: bool,
    pub extra: Map<String, Value>,
}

impl ApiError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.to_string(),
            message: message.into(),
            retryable: false,
            extra: Map::new(),
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.to_string(), value.into());
        self
    }

    pub fn retryable(mut self) -> Self {
        self.retryable = true;
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "bad_request", message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(404, "not_found", format!("{what} non trovato."))
    }

    pub fn invalid_state(message: impl Into<String>) -> Self {
        Self::new(409, "invalid_state", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            500,
            "internal_error",
            format!(
                "Errore interno: {}. Riprovare; se si ripete chiamare l'assistenza.",
                message.into()
            ),
        )
    }

    pub fn disk_full() -> Self {
        Self::new(
            507,
            "disk_full",
            "Disco pieno: impossibile registrare il pagamento. NON incassare. Chiamare l'assistenza per liberare spazio.",
        )
    }

    pub fn backend_unreachable(what_works: &str) -> Self {
        Self::new(
            503,
            "backend_unreachable",
            format!("Il sistema del Comune non risponde. {what_works}"),
        )
        .retryable()
    }

    pub fn to_json(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("code".into(), json!(self.code));
        obj.insert("message".into(), json!(self.message));
        obj.insert("retryable".into(), json!(self.retryable));
        for (k, v) in &self.extra {
            obj.insert(k.clone(), v.clone());
        }
        json!({ "error": obj })
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        if e.is_disk_full() {
            ApiError::disk_full()
        } else if let crate::store::StoreError::JournalTampered(why) = &e {
            tracing::error!(reason = %why, "the journal was tampered with: payments are refused");
            ApiError::new(
                503,
                "journal_tampered",
                "Il giornale risulta manomesso (voci rimosse o riscritte): nessun pagamento viene registrato. Non incassare; chiamare l'assistenza (pos-agent journal verify).",
            )
        } else {
            tracing::error!(error = %e, "store error");
            ApiError::internal("archivio non disponibile")
        }
    }
}

/// What the operator is told about a backend that refused or did not
/// answer, and what still works without it.
fn backend_error(e: &pos_backend::BackendError, offline_hint: &str) -> ApiError {
    use pos_backend::BackendError as B;
    match e {
        B::Permanent { code, .. } if code == "unknown_code" => ApiError::new(
            422,
            "unknown_code",
            "Codice di pagamento sconosciuto al Comune. Chiedere al genitore di aprire di nuovo l'app e mostrare il codice aggiornato.",
        ),
        B::Permanent { code, .. } if code == "code_revoked" => ApiError::new(
            422,
            "code_revoked",
            "Codice di pagamento revocato. Il genitore deve generarne uno nuovo nell'app.",
        ),
        B::Permanent { code, .. } if code == "unknown_payer" => ApiError::new(
            422,
            "unknown_payer",
            "Codice fiscale non associato ad alcun servizio scolastico.",
        ),
        B::Permanent { code, message, .. } => ApiError::new(
            422,
            code,
            // The backend's text may quote what it was sent.
            format!(
                "Il Comune ha rifiutato la richiesta ({}).",
                pos_codes::mask_fiscal_codes(message)
            ),
        ),
        B::Auth { code, .. } => ApiError::backend_unreachable(&format!(
            "Il terminale non è autorizzato ({code}): chiamare l'assistenza. {offline_hint}"
        ))
        .with("backend_error", code.clone()),
        _ => ApiError::backend_unreachable(offline_hint),
    }
}

const NOTICE_OR_CARD_OFFLINE: &str = "Avvisi pagoPA e tessera sanitaria richiedono il collegamento: riprovare tra poco. Senza collegamento si possono pagare solo i QR dell'app entro i limiti offline.";

const OFFLINE_HINT: &str = "Senza collegamento si possono pagare solo i QR dell'app entro i limiti offline; riprovare tra poco per codici manuali, avvisi pagoPA e tessera sanitaria.";

/// What the operator is told when `call` failed with `error`.
fn backend_call_error(call: BackendCall, error: &pos_backend::BackendError) -> ApiError {
    use pos_backend::BackendError as B;
    match (call, error) {
        (BackendCall::ResolveCode, e) => backend_error(e, OFFLINE_HINT),
        (BackendCall::VerifyNotice, B::Permanent { code, .. }) if code == "unknown_notice" => {
            ApiError::new(
                422,
                "unknown_notice",
                "Avviso pagoPA sconosciuto all'ente: controllare numero avviso e codice fiscale dell'ente.",
            )
        }
        (BackendCall::ActivateNotice, B::Permanent { code, .. }) => match code.as_str() {
            "notice_already_paid" => ApiError::new(
                422,
                "notice_not_payable",
                "Questo avviso è già stato pagato: non incassare.",
            ),
            "notice_in_progress" => ApiError::new(
                422,
                "notice_in_progress",
                "L'avviso è in pagamento presso un altro sportello. Annullare questa operazione e riprovare con una nuova tra al massimo 30 minuti.",
            ),
            "amount_mismatch" => ApiError::new(
                422,
                "amount_mismatch",
                "L'importo dell'avviso è cambiato: annullare e leggere di nuovo l'avviso.",
            ),
            other => ApiError::new(
                422,
                other,
                "L'ente ha rifiutato l'attivazione dell'avviso: non incassare.",
            ),
        },
        (BackendCall::LookupPayer | BackendCall::VerifyNotice | BackendCall::ActivateNotice, e) => {
            backend_error(e, NOTICE_OR_CARD_OFFLINE)
        }
    }
}

/// The one place where a counter refusal becomes what the API answers: the
/// status, the code a client branches on, the Italian message and its extra
/// fields.
impl From<CounterError> for ApiError {
    fn from(e: CounterError) -> Self {
        use crate::printing::receipts::eur;
        match e {
            CounterError::UnknownTransaction => ApiError::not_found("Transazione"),
            CounterError::UnknownReceipt => ApiError::not_found("Ricevuta"),
            CounterError::UnknownScan => ApiError::new(
                404,
                "not_found",
                "Lettura scaduta o sconosciuta: inquadrare di nuovo il codice.",
            ),
            CounterError::BadDate(d) => {
                ApiError::bad_request(format!("date `{d}` is not YYYY-MM-DD"))
            }
            CounterError::DiskFull => ApiError::disk_full(),
            CounterError::Code(e) => ApiError::new(422, e.code(), e.to_string()),
            CounterError::InvalidState(w) => ApiError::invalid_state(wrong_state_message(w)),
            CounterError::AmountOutOfLimits { limits, .. } => ApiError::new(
                422,
                "amount_out_of_range",
                format!(
                    "Importo non ammesso: deve essere tra {} e {} €.",
                    eur(limits.min_cents),
                    eur(limits.max_cents)
                ),
            )
            .with("limits", json!(limits)),
            CounterError::OfflineLimitExceeded {
                max_transaction_cents,
                max_total_cents,
                pending_cents,
            } => ApiError::new(
                422,
                "offline_limit_exceeded",
                format!(
                    "Senza collegamento al Comune si possono incassare al massimo {} € per ricarica e {} € in tutto in attesa di conferma (già in attesa: {} €). Riprovare quando il collegamento torna.",
                    eur(max_transaction_cents),
                    eur(max_total_cents),
                    eur(pending_cents)
                ),
            ),
            CounterError::OfflineTotalExceeded {
                max_total_cents,
                pending_cents,
            } => ApiError::new(
                422,
                "offline_limit_exceeded",
                format!(
                    "Senza collegamento al Comune si possono avere al massimo {} € in attesa di conferma (già in attesa: {} €). Non incassare; riprovare quando il collegamento torna.",
                    eur(max_total_cents),
                    eur(pending_cents)
                ),
            ),
            CounterError::TenderedTooLow {
                total_cents,
                tendered_cents,
            } => ApiError::new(
                422,
                "tendered_too_low",
                format!(
                    "Contante insufficiente: servono {} €, ricevuti {} €.",
                    eur(total_cents),
                    eur(tendered_cents)
                ),
            ),
            CounterError::TenderedTooHigh {
                total_cents,
                tendered_cents,
            } => ApiError::new(
                422,
                "tendered_too_high",
                format!(
                    "Contante ricevuto troppo alto: {} € per un totale di {} € (resto oltre {} €). Controllare la cifra digitata.",
                    eur(tendered_cents),
                    eur(total_cents),
                    eur(MAX_CHANGE_CENTS)
                ),
            ),
            CounterError::PaymentTokenExpired => ApiError::new(
                409,
                "payment_token_expired",
                "L'attivazione dell'avviso è scaduta (30 minuti): non incassare. Annullare e ripartire leggendo di nuovo l'avviso.",
            ),
            CounterError::PaymentTokenExpiring { expires_at } => ApiError::new(
                409,
                "payment_token_expiring",
                format!(
                    "L'attivazione dell'avviso scade tra meno di {} minuti: non incassare. Annullare e ripartire leggendo di nuovo l'avviso.",
                    PAYMENT_TOKEN_MARGIN.whole_minutes()
                ),
            )
            .with("expires_at", json!(crate::time_fmt::rfc3339(expires_at))),
            CounterError::UnknownChoice => ApiError::new(
                422,
                "unknown_choice",
                "Il codice scelto non è tra quelli del titolare della tessera.",
            ),
            CounterError::TooManyItems { max } => ApiError::new(
                422,
                "too_many_items",
                format!("Al massimo {max} voci in un pagamento: pagare queste e aprire una nuova operazione per le altre."),
            )
            .with("max_items", json!(max)),
            CounterError::DuplicateItem { n } => ApiError::new(
                409,
                "duplicate_item",
                format!("Questo codice è già nell'operazione (voce {n}): non va letto due volte."),
            )
            .with("item", json!(n)),
            CounterError::UnknownItem { n } => ApiError::new(
                404,
                "not_found",
                format!("Nessuna voce {n} in questa operazione."),
            ),
            CounterError::ItemRequired => ApiError::bad_request(
                "Indicare a quale voce va l'importo: più voci sono ancora senza importo \
                 (field `item`).",
            ),
            CounterError::CodeNotActive => ApiError::new(
                422,
                "code_revoked",
                "Codice di pagamento non attivo. Il genitore deve generarne uno nuovo nell'app.",
            ),
            CounterError::PayerWithoutCodes => ApiError::new(
                422,
                "unknown_payer",
                "Nessun servizio scolastico associato a questa tessera.",
            ),
            CounterError::NoticeNotPayable { status } => {
                use pos_backend::NoticeStatus as S;
                let why = match status {
                    S::Paid => "è già stato pagato",
                    S::Expired => "è scaduto",
                    S::Cancelled => "è stato annullato dall'ente",
                    _ => "non è pagabile",
                };
                ApiError::new(
                    422,
                    "notice_not_payable",
                    format!("Questo avviso {why}: non incassare."),
                )
                .with("notice_status", json!(status))
            }
            CounterError::NoSigningKeys => ApiError::backend_unreachable(
                "Le chiavi per verificare i QR non sono ancora disponibili: riprovare quando il collegamento torna.",
            ),
            CounterError::BadBackendAnswer(BadAnswer::PaymentCode) => ApiError::new(
                502,
                "bad_backend_answer",
                "Risposta del Comune non valida. Riprovare; se si ripete chiamare l'assistenza.",
            )
            .retryable(),
            CounterError::BadBackendAnswer(BadAnswer::NoticeAmount) => ApiError::new(
                502,
                "bad_backend_answer",
                "Importo dell'avviso non valido nella risposta dell'ente.",
            ),
            CounterError::Backend { call, error } => backend_call_error(call, &error),
            CounterError::IncompleteNotice => ApiError::internal("avviso incompleto"),
            CounterError::Item { n, error } => {
                let mut e = ApiError::from(*error).with("item", json!(n));
                e.message = format!(
                    "Voce {n}: {} In un pagamento con più voci si può anche togliere \
                     questa voce e pagare le altre.",
                    e.message
                );
                e
            }
            CounterError::Store(e) => e.into(),
        }
    }
}

/// The Italian text of a step the state does not allow (409 `invalid_state`).
fn wrong_state_message(w: WrongState) -> String {
    match w {
        WrongState::NoticeAmountFixed => {
            "L'importo di un avviso pagoPA è fissato dal Comune e non si può cambiare.".into()
        }
        WrongState::AmountLocked(state) => format!(
            "Non si può cambiare l'importo: la transazione è {}.",
            state.as_str()
        ),
        WrongState::AmountMissing => "Inserire prima l'importo.".into(),
        WrongState::Voided => "La transazione è annullata.".into(),
        WrongState::PreReceiptUnavailable(state) => format!(
            "Pre-scontrino non disponibile: la transazione è {}.",
            state.as_str()
        ),
        WrongState::PreReceiptFirst => "Stampare prima il pre-scontrino.".into(),
        WrongState::AlreadyChosen => {
            "La scelta del servizio è già stata fatta per questa operazione.".into()
        }
        WrongState::AlreadyPaid => "La transazione è già pagata e non si può annullare.".into(),
        WrongState::ItemsLocked(state) => format!(
            "Non si possono aggiungere voci: la transazione è {}. Annullare il pre-scontrino togliendo una voce, o completare il pagamento.",
            state.as_str()
        ),
        WrongState::LastItem => {
            "È l'unica voce rimasta: per toglierla annullare l'operazione.".into()
        }
    }
}
