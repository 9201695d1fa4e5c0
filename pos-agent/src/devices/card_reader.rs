//! The card reader as the agent sees it: a dedicated thread that reads
//! lines from the serial reader of `[card_reader] device`, turns each into
//! the text to classify, and publishes it as a `scan` event with source
//! `card_reader` (through its [`DeviceLink`]'s scan sink, which masks
//! fiscal codes; the thread never holds the agent).
//!
//! ```text
//! serial reader ─lines─▶ card_text_from_line ─text─▶ DeviceLink::scan ─▶ `scan` event
//!   %BRSSMRA85T10A562SROSSI  MARIO^^^?   ─▶ RSSMRA85T10A562S   (track 1: the code only)
//!   ;80380001800012345678=2912?          ─▶ ignored            (track 2: card number)
//!   RSSMRA85T10A562S / *RSSMRA85T10A562S* ─▶ RSSMRA85T10A562S  (Code 39 barcode)
//!   PAGOPA|002|...                        ─▶ as read           (a 2D scanner on the port)
//!   garbage, %E? (failed swipe)          ─▶ ignored
//! ```
//!
//! Decisions:
//!
//! - The fiscal code is extracted here, not in `pos-drivers`: the driver only
//!   turns bytes into lines and stays free of the code rules; `pos_codes`
//!   decides what a line holds.
//! - Only the fiscal code of a track goes on: the holder's name on track 1
//!   is never stored, not even in the in-memory `scan_id` table.
//! - A line that is not a valid input (garbage, a failed swipe, track 2 with
//!   only the card number) produces no event: a swipe sends both tracks, so
//!   reporting track 2 as `unknown` would show an error next to every good
//!   read. It is logged with its reason and a masked excerpt (track data is
//!   never quoted, since it holds a name). A reader that only ever sends
//!   track 2 is a configuration problem and is logged as a warning saying so.
//! - State: `disabled` (`device = "none"`, no thread), `offline` until the
//!   port opens and whenever it is unplugged or missing, `busy` when another
//!   program holds it, `error` (permission, other failures); `ready` while
//!   it is open. Every change is a `device` event. The thread retries every
//!   200 ms doubling up to 2 s, so a re-plugged reader works within 2 s.

use std::ops::ControlFlow;
use std::time::Duration;

use pos_codes::{classify, fiscal_code_from_track, masked_excerpt, Input};
use pos_config::CardReaderDevice;
use pos_drivers::card_reader::{open_card_reader, CardReader};
use pos_drivers::DeviceState;
use tracing::{info, warn};

use super::device_state::DeviceLink;
use crate::events::EventBus;

/// How long one read waits before the thread checks that the agent is
/// still running.
const POLL: Duration = Duration::from_millis(500);

/// Retry delays after an error: first, and at most.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub first: Duration,
    pub max: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            first: Duration::from_millis(200),
            max: Duration::from_secs(2),
        }
    }
}

/// The reader's state, shared by its thread and `GET /api/v1/status`.
pub type CardReaderState = super::device_state::DeviceCell;

/// `disabled` for `none`; `offline` for a reader not opened yet.
pub fn card_reader_state(device: &CardReaderDevice, events: EventBus) -> CardReaderState {
    CardReaderState::card_reader(device, events)
}

/// Starts the reader thread when a reader is configured; `None` for
/// `device = "none"` (or if the thread could not be created, which is
/// logged and leaves the reader `error`).
pub fn spawn(device: &CardReaderDevice, link: DeviceLink) -> Option<std::thread::JoinHandle<()>> {
    let mut reader = open_card_reader(device)?;
    let state = link.state.clone();
    let thread_link = link.clone();
    let spawned = std::thread::Builder::new()
        .name("card-reader".into())
        .spawn(move || {
            info!(device = %reader.describe(), "card reader: started");
            run(&mut reader, &state, Retry::default(), |text| {
                // The agent stops (or a test's agent was dropped): stop.
                if !thread_link.running() {
                    return ControlFlow::Break(());
                }
                if let Some(text) = text {
                    let Some(scan_id) = thread_link.scan("card_reader", text) else {
                        return ControlFlow::Break(());
                    };
                    info!(%scan_id, "card reader: scan");
                }
                ControlFlow::Continue(())
            });
        });
    match spawned {
        Ok(handle) => Some(handle),
        Err(e) => {
            warn!(error = %e, "card reader: could not start its thread");
            link.state.set(DeviceState::Error);
            None
        }
    }
}

/// The reader loop: reads lines, keeps `state` true, retries with backoff
/// after errors (which is how an unplugged reader is reopened), and calls
/// `tick` after every read with the text to publish, if any, and with
/// `None` otherwise; `tick` returning `Break` ends the loop.
pub fn run<R: CardReader + ?Sized>(
    reader: &mut R,
    state: &CardReaderState,
    retry: Retry,
    mut tick: impl FnMut(Option<&str>) -> ControlFlow<()>,
) {
    let mut delay = retry.first;
    let mut last_error: Option<String> = None;
    let mut lines_without_code: u32 = 0;
    loop {
        let text = match reader.read_line(POLL) {
            Ok(line) => {
                if state.set(DeviceState::Ready) {
                    info!(device = %reader.describe(), "card reader: ready");
                }
                delay = retry.first;
                last_error = None;
                line.and_then(|line| match card_text_from_line(&line) {
                    Some(text) => {
                        lines_without_code = 0;
                        Some(text)
                    }
                    None => {
                        lines_without_code += 1;
                        log_ignored(&line, lines_without_code);
                        None
                    }
                })
            }
            Err(e) => {
                let message = e.to_string();
                if last_error.as_deref() != Some(message.as_str()) {
                    warn!(error = %message, "card reader: not available; retrying");
                    last_error = Some(message);
                }
                state.set(e.device_state());
                if tick(None).is_break() {
                    return;
                }
                std::thread::sleep(delay);
                delay = (delay * 2).min(retry.max);
                continue;
            }
        };
        if tick(text.as_deref()).is_break() {
            return;
        }
    }
}

/// The text of a reader line to classify and publish, or `None` when the
/// line holds nothing the counter accepts:
///
/// - track data (`%...`, `;...`, or sentinel-less with `^`): the holder's
///   fiscal code alone, when it is there and valid;
/// - a Code 39 read, with or without the `*` start/stop characters the
///   scanner may transmit: the fiscal code, upper-cased;
/// - any other valid input (a 2D scanner on the port reading an app QR or a
///   notice): the line as read;
/// - anything else: `None`.
///
/// ```
/// use pos_agent::devices::card_reader::card_text_from_line;
///
/// let track1 = "%BRSSMRA85T10A562SROSSI  MARIO^^^?";
/// assert_eq!(card_text_from_line(track1).as_deref(), Some("RSSMRA85T10A562S"));
/// assert_eq!(card_text_from_line(";80380001800012345678=2912?"), None);
/// assert_eq!(card_text_from_line("*rssmra85t10a562s*").as_deref(), Some("RSSMRA85T10A562S"));
/// assert_eq!(card_text_from_line("[2J %E?"), None);
/// ```
pub fn card_text_from_line(line: &str) -> Option<String> {
    let text = strip_framing(line);
    if text.is_empty() {
        return None;
    }
    if is_track(text) {
        return fiscal_code_from_track(text)
            .ok()
            .map(|cf| cf.as_str().to_owned());
    }
    match classify(text) {
        Ok(Input::FiscalCode(cf)) => Some(cf.as_str().to_owned()),
        Ok(_) => Some(text.to_owned()),
        // Track 1 from a reader set to strip the sentinels.
        Err(_) if text.contains('^') => fiscal_code_from_track(text)
            .ok()
            .map(|cf| cf.as_str().to_owned()),
        Err(_) => None,
    }
}

/// Whitespace, control characters and Code 39 `*` start/stop removed.
fn strip_framing(line: &str) -> &str {
    let text = line.trim_matches(|c: char| c.is_whitespace() || c.is_control());
    text.strip_prefix('*')
        .and_then(|t| t.strip_suffix('*'))
        .map(str::trim)
        .unwrap_or(text)
}

fn is_track(text: &str) -> bool {
    text.starts_with('%') || text.starts_with(';')
}

/// Logs why a line produced no scan, without personal data: track data is
/// described (it holds the holder's name), anything else is quoted as a
/// short masked excerpt.
fn log_ignored(line: &str, in_a_row: u32) {
    let text = strip_framing(line);
    let chars = text.chars().count();
    if is_track(text) || text.contains('^') {
        let reason = fiscal_code_from_track(text)
            .err()
            .map_or("not_a_fiscal_code", |e| e.code());
        let track2_only = text.starts_with(';') && !text.contains('^');
        if track2_only && in_a_row >= 3 {
            warn!(
                reason,
                chars,
                "card reader: only track 2 (the card number) arrives; set the reader to send track 1, or read the barcode"
            );
        } else {
            info!(
                reason,
                chars, "card reader: track data without a valid fiscal code ignored"
            );
        }
    } else {
        let reason = classify(text).err().map_or("unknown_input", |e| e.code());
        info!(
            reason,
            chars,
            excerpt = %masked_excerpt(text),
            "card reader: line ignored"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pos_drivers::card_reader::CardReaderError;
    use std::collections::VecDeque;

    const CF: &str = "RSSMRA85T10A562S";

    #[test]
    fn track1_gives_the_fiscal_code_only() {
        for line in [
            "%BRSSMRA85T10A562SROSSI  MARIO^^^?",
            "%BRSSMRA85T10A562SROSSI  MARIO^^^?\r\n",
            "BRSSMRA85T10A562SROSSI  MARIO^^^", // sentinels stripped by the reader
            "%brssmra85t10a562srossi  mario^^^?",
        ] {
            assert_eq!(card_text_from_line(line).as_deref(), Some(CF), "{line:?}");
        }
    }

    #[test]
    fn track1_with_a_wrong_check_letter_is_ignored() {
        assert_eq!(
            card_text_from_line("%BRSSMRA85T10A562XROSSI  MARIO^^^?"),
            None
        );
    }

    #[test]
    fn track2_is_the_card_number_not_a_fiscal_code() {
        assert_eq!(card_text_from_line(";80380001800012345678=2912?"), None);
        assert_eq!(card_text_from_line("80380001800012345678"), None);
    }

    #[test]
    fn code39_with_or_without_start_stop_characters() {
        assert_eq!(card_text_from_line(CF).as_deref(), Some(CF));
        assert_eq!(
            card_text_from_line("*RSSMRA85T10A562S*").as_deref(),
            Some(CF)
        );
        assert_eq!(
            card_text_from_line(" rssmra85t10a562s \r").as_deref(),
            Some(CF)
        );
        // Omocodic codes are valid too.
        assert_eq!(
            card_text_from_line("RSSMRA85T10A56NH").as_deref(),
            Some("RSSMRA85T10A56NH")
        );
    }

    #[test]
    fn other_valid_inputs_pass_as_read() {
        let qr = "PAGOPA|002|301000000000012373|00514490010|2550";
        assert_eq!(card_text_from_line(qr).as_deref(), Some(qr));
    }

    #[test]
    fn garbage_and_failed_swipes_are_ignored() {
        for line in [
            "", "   ", "[2J %E?", "%E?", ";E?", "( noise ", "RSSMRA85", "*", "**", "^^^",
        ] {
            assert_eq!(card_text_from_line(line), None, "{line:?}");
        }
    }

    /// A reader that plays a script, then reads nothing.
    struct Scripted(VecDeque<Result<Option<String>, CardReaderError>>);

    impl CardReader for Scripted {
        fn read_line(&mut self, _: Duration) -> Result<Option<String>, CardReaderError> {
            self.0.pop_front().unwrap_or(Ok(None))
        }
        fn describe(&self) -> String {
            "serial:/dev/scripted?baud=9600".into()
        }
    }

    fn unplugged() -> CardReaderError {
        CardReaderError::Disconnected {
            device: "serial:/dev/scripted?baud=9600".into(),
            reason: "Broken pipe".into(),
        }
    }

    #[test]
    fn the_loop_publishes_codes_skips_garbage_and_survives_unplugging() {
        let events = EventBus::new();
        let mut rx = events.subscribe();
        let device = CardReaderDevice::Serial {
            path: "/dev/scripted".into(),
            baud: 9600,
        };
        let state = card_reader_state(&device, events);
        assert_eq!(state.get(), DeviceState::Offline);
        let mut reader = Scripted(VecDeque::from([
            Err(CardReaderError::Unreachable {
                device: "serial:/dev/scripted?baud=9600".into(),
                reason: "/dev/scripted does not exist".into(),
            }),
            Ok(Some("\u{1b}[2J %E?".into())),
            Ok(Some("%BRSSMRA85T10A562SROSSI  MARIO^^^?".into())),
            Ok(Some(";80380001800012345678=2912?".into())),
            Err(unplugged()),
            Err(unplugged()),
            Ok(None),
            Ok(Some("*RSSMRA85T10A562S*".into())),
        ]));
        let retry = Retry {
            first: Duration::from_millis(1),
            max: Duration::from_millis(2),
        };
        let mut scans = Vec::new();
        let mut ticks = 0;
        run(&mut reader, &state, retry, |text| {
            ticks += 1;
            scans.extend(text.map(str::to_owned));
            if ticks >= 12 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        assert_eq!(scans, [CF, CF]);
        assert_eq!(state.get(), DeviceState::Ready);
        let mut states = Vec::new();
        while let Ok(e) = rx.try_recv() {
            assert_eq!(e.name, "device");
            assert_eq!(e.data["device"], "card_reader");
            states.push(e.data["state"].as_str().unwrap_or_default().to_owned());
        }
        // Unreachable at start is already `offline`: no event for it.
        assert_eq!(states, ["ready", "offline", "ready"]);
    }

    #[test]
    fn disabled_reader_has_no_thread_state_changes() {
        let state = card_reader_state(&CardReaderDevice::None, EventBus::new());
        assert_eq!(state.get(), DeviceState::Disabled);
    }
}
