//! The local API's error: an HTTP status, a snake_case code a client branches
//! on, a message in Italian that tells the operator what to do, and extra
//! fields (`attempts_left`, `locked_until`, ...). Shaped as in agent-api.md:
//! `{"error": {"code", "message", "retryable", ...}}`.

use serde_json::{json, Map, Value};

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
