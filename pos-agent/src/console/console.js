// Operator console: a client of the local API (agent-api.md) and nothing
// more. One screen at a time; every action is a button that shows its key,
// so the whole flow works with the keyboard alone or on a touch screen.
'use strict';

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------- money

/** 1234 -> "12,34 €" */
function eur(cents) {
  if (cents === null || cents === undefined) return '–';
  const neg = cents < 0;
  const c = Math.abs(Math.round(cents));
  const units = String(Math.floor(c / 100)).replace(/\B(?=(\d{3})+(?!\d))/g, '.');
  return (neg ? '-' : '') + units + ',' + String(c % 100).padStart(2, '0') + ' €';
}

/** "20" / "20,5" / "20.50" / "1.250,00" -> cents, or null when not an amount. */
function parseEuro(text) {
  let s = String(text || '').trim().replace(/\s|€/g, '');
  if (!s) return null;
  if (s.includes(',')) s = s.replace(/\./g, '').replace(',', '.');
  if (!/^\d{1,7}(\.\d{0,2})?$/.test(s)) return null;
  const [u, d = ''] = s.split('.');
  return parseInt(u, 10) * 100 + parseInt((d + '00').slice(0, 2), 10);
}

function hhmm(date) {
  return String(date.getHours()).padStart(2, '0') + ':' + String(date.getMinutes()).padStart(2, '0');
}

// ---------------------------------------------------------------- errors

/** What each API error code means for the operator: a title and what to do.
 *  The API's own `message` (already Italian) is shown between the two. */
const ERRORS = {
  wrong_pin: ['PIN errato', 'Riprovare con attenzione: al terzo PIN errato l\'operatore viene bloccato.'],
  operator_locked: ['Operatore bloccato', 'Attendere la fine del blocco o accedere con un altro operatore.'],
  unauthorized: ['Accesso richiesto', 'Inserire operatore e PIN.'],
  bad_request: ['Richiesta non valida', 'Ricaricare la pagina; se si ripete chiamare l\'assistenza.'],
  not_found: ['Non trovato', 'Controllare il numero digitato e riprovare.'],
  invalid_state: ['Operazione non possibile in questo momento', 'La schermata è stata aggiornata: controllare lo stato e continuare.'],
  unknown_input: ['Codice non riconosciuto', 'Rileggere il QR o digitare il codice di 13 cifre mostrato dall\'app.'],
  bad_check_digit: ['Codice errato', 'Probabile errore di lettura o di battitura: rileggere o ridigitare il codice.'],
  bad_length: ['Codice di lunghezza errata', 'Controllare di averlo letto o digitato per intero e riprovare.'],
  bad_format: ['Codice non valido', 'Rileggere il codice o digitarlo di nuovo.'],
  unsupported_version: ['Versione del codice non gestita', 'Chiedere al genitore un altro codice (es. il codice di 13 cifre dell\'app).'],
  bad_signature: ['QR dell\'app non valido', 'Non incassare. Chiedere al genitore di riaprire l\'app e mostrare di nuovo il QR, o digitare il codice di 13 cifre.'],
  unknown_key: ['QR dell\'app non riconosciuto', 'Chiedere al genitore di aggiornare l\'app, o digitare il codice di 13 cifre.'],
  key_expired: ['QR dell\'app scaduto', 'Chiedere al genitore di aggiornare l\'app e mostrare un nuovo QR.'],
  unsupported_algorithm: ['QR dell\'app non valido', 'Digitare il codice di 13 cifre mostrato dall\'app.'],
  not_a_fiscal_code: ['Non è un codice fiscale', 'Leggere il codice a barre sul retro della tessera sanitaria o digitare il codice fiscale.'],
  unknown_code: ['Codice sconosciuto al Comune', 'Non incassare. Verificare il codice con il genitore; se è giusto, il genitore deve contattare l\'ufficio scuola.'],
  code_revoked: ['Codice revocato', 'Non incassare. Il genitore deve generare un nuovo codice nell\'app o contattare il Comune.'],
  unknown_payer: ['Nessun codice per questa tessera', 'Non incassare. Il genitore deve usare il QR dell\'app o contattare l\'ufficio scuola.'],
  unknown_notice: ['Avviso sconosciuto', 'Non incassare. Controllare numero avviso ed ente; se sono giusti il genitore deve contattare l\'ente.'],
  notice_not_payable: ['Avviso non pagabile', 'Non incassare. Il genitore deve contattare l\'ente che ha emesso l\'avviso.'],
  amount_out_of_range: ['Importo fuori dai limiti', 'Digitare un importo compreso tra i limiti indicati.'],
  tendered_too_low: ['Contanti insufficienti', 'Digitare la somma effettivamente ricevuta: almeno il totale.'],
  offline_limit_exceeded: ['Limite senza collegamento superato', 'Ridurre l\'importo, o riprovare quando il Comune torna raggiungibile.'],
  backend_unreachable: ['Il Comune non risponde', 'Si possono incassare solo i QR dell\'app, entro i limiti offline. Riprovare tra qualche minuto.'],
  disk_full: ['Disco pieno: NON incassare', 'Chiamare subito l\'assistenza.'],
  duplicate_item: ['Codice già nel pagamento', 'Non va letto due volte: continuare con gli importi.'],
  too_many_items: ['Troppe voci in un pagamento', 'Incassare queste voci, poi leggere gli altri codici in una nuova operazione.'],
  unknown_choice: ['Scelta non valida', 'Scegliere di nuovo tra i servizi mostrati.'],
  bad_backend_answer: ['Risposta non valida dal Comune', 'Riprovare tra poco; se si ripete chiamare l\'assistenza.'],
  internal_error: ['Errore del programma di cassa', 'Riprovare; se si ripete chiamare l\'assistenza.'],
  network: ['Programma di cassa non raggiungibile', 'Attendere qualche secondo e riprovare; se non torna, riavviare il PC o chiamare l\'assistenza.'],
  local: ['Controllare i dati', ''],
};

class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || ('Errore ' + status));
    this.status = status;
    this.code = e.code || (status === 0 ? 'network' : 'http_' + status);
    this.details = e;
  }
}

let lockTimer = null;

function showError(err, hintOverride) {
  const code = err.code || 'local';
  const [title, hint] = ERRORS[code] || ['Operazione rifiutata', 'Leggere il messaggio; se non è chiaro chiamare l\'assistenza.'];
  $('error-title').textContent = title;
  $('error-msg').textContent = err.message || '';
  $('error-hint').textContent = hintOverride !== undefined ? hintOverride : hint;
  $('error').hidden = false;
  $('error').dataset.code = code;
}

function clearError() {
  $('error').hidden = true;
  $('error').dataset.code = '';
}

function localError(message, hint) {
  const e = new Error(message);
  e.code = 'local';
  showError(e, hint || '');
}

let toastTimer = null;
function toast(text) {
  $('toast').textContent = text;
  $('toast').hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { $('toast').hidden = true; }, 3000);
}

// ---------------------------------------------------------------- API

const state = {
  token: sessionStorage.getItem('pos.token'),
  operator: sessionStorage.getItem('pos.operator'),
  screen: 'login',
  tx: null, // the transaction in progress (API object)
  done: null, // the last paid transaction shown on the done screen
  lastReceipt: sessionStorage.getItem('pos.lastReceipt'),
  terminal: null,
  status: null,
  pendingScan: null, // a scan read while a transaction was in progress
  events: null,
  busy: false,
  report: null,
  today: [], // today's transactions, newest first (the today screen)
  todaySel: -1, // index in `today` of the chosen paid receipt
  syncSeen: {}, // transaction id -> last sync state seen in the events
  sel: null, // the item (its `n`) chosen in the items table
  selShown: null, // the item whose amount the amount field holds
  ticks: new Set(), // health card: the indices of the ticked choices
  cursor: 0, // health card: the row Space ticks
};

async function api(method, path, body) {
  const headers = { 'Content-Type': 'application/json' };
  if (state.token) headers.Authorization = 'Bearer ' + state.token;
  let r;
  try {
    r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, { error: { code: 'network', message: 'Nessuna risposta dal programma di cassa.' } });
  }
  const j = await r.json().catch(() => ({}));
  if (!r.ok) {
    const err = new ApiError(r.status, j);
    if (r.status === 401 && err.code === 'unauthorized' && state.token && path !== '/api/v1/login') {
      sessionExpired();
    }
    throw err;
  }
  return j;
}

/** Runs one operator action at a time; shows the error if it fails. */
async function run(fn) {
  if (state.busy) return;
  state.busy = true;
  const shown = setTimeout(() => { $('busy').hidden = false; }, 250);
  try {
    clearError();
    await fn();
  } catch (e) {
    if (e instanceof ApiError || e.code) showError(e, e.hint); else showError({ code: 'internal_error', message: String(e) });
    if (e.code === 'invalid_state' && state.tx) await refreshTx();
  } finally {
    clearTimeout(shown);
    $('busy').hidden = true;
    state.busy = false;
    focusScreen();
  }
}

// ---------------------------------------------------------------- status bar

/** Device state -> [label for a feminine device (stampante, fotocamera),
 *  label for a masculine one (lettore), chip class]. */
const DEVICE_STATES = {
  ready: ['pronta', 'pronto', 'ok'], busy: ['occupata', 'occupato', 'ok'],
  paper_out: ['CARTA ESAURITA', 'CARTA ESAURITA', 'bad'], cover_open: ['COPERCHIO APERTO', 'COPERCHIO APERTO', 'bad'],
  offline: ['NON COLLEGATA', 'NON COLLEGATO', 'bad'], disabled: ['non presente', 'non presente', 'off'],
  error: ['ERRORE', 'ERRORE', 'bad'],
};

function deviceLabel(device, s) {
  const d = DEVICE_STATES[s];
  if (!d) return [s || '?', 'warn'];
  return [device === 'card_reader' ? d[1] : d[0], d[2]];
}

function setChip(id, label, cls, title) {
  const el = $(id);
  el.querySelector('b').textContent = label;
  el.dataset.state = cls;
  el.title = title || '';
}

function setDevice(device, s) {
  const [label, cls] = deviceLabel(device, s);
  setChip('st-' + device, label, cls);
  if (state.status) state.status.devices[device] = { state: s };
  if (device === 'printer') renderPrinterWarnings();
}

function renderStatus(s) {
  state.status = s;
  state.terminal = s.terminal_id;
  $('terminal').textContent = s.terminal_id || '';
  for (const d of ['printer', 'camera', 'card_reader']) setDevice(d, s.devices && s.devices[d] && s.devices[d].state);
  const b = s.backend || {};
  if (b.error) setChip('st-backend', 'ERRORE ACCESSO', 'bad', 'Il Comune rifiuta la firma del terminale (' + b.error + '): chiamare l\'assistenza.');
  else if (b.reachable) setChip('st-backend', 'collegato', 'ok');
  else setChip('st-backend', 'NON RAGGIUNGIBILE', 'bad', 'Si accettano solo i QR dell\'app entro i limiti offline.');
  renderOutbox(s.outbox || {});
}

function renderOutbox(o) {
  let label = String(o.pending ?? '?');
  let cls = o.pending ? 'warn' : 'ok';
  let title = 'Pagamenti registrati ma non ancora confermati dal Comune: partono da soli.';
  if (o.pending && o.oldest_at) title += ' Il più vecchio è delle ' + hhmm(new Date(o.oldest_at)) + '.';
  if (o.rejected) { label += ' · rimborsi: ' + o.rejected; cls = 'bad'; title += ' Rifiutati dal Comune, da rimborsare: ' + o.rejected + '.'; }
  setChip('st-outbox', label, cls, title);
}

async function refreshStatus() {
  try {
    const r = await fetch('/api/v1/status');
    if (!r.ok) throw new Error(String(r.status));
    renderStatus(await r.json());
  } catch (e) {
    for (const id of ['st-printer', 'st-camera', 'st-card_reader', 'st-backend', 'st-outbox']) setChip(id, '?', 'bad');
  }
}

let statusSoon = null;
function refreshStatusSoon() {
  clearTimeout(statusSoon);
  statusSoon = setTimeout(refreshStatus, 300);
}

function printerProblem() {
  const s = state.status && state.status.devices && state.status.devices.printer && state.status.devices.printer.state;
  if (!s || s === 'ready' || s === 'busy' || s === 'disabled') return null;
  return 'Stampante: ' + deviceLabel('printer', s)[0].toLowerCase() + '. Sistemare la stampante e premere F2 per ristampare.';
}

function renderPrinterWarnings() {
  const p = printerProblem();
  for (const id of ['cash-printer', 'done-printer']) {
    $(id).hidden = !p;
    $(id).textContent = p || '';
  }
}

// ---------------------------------------------------------------- events (SSE)

function openEvents() {
  closeEvents();
  const es = new EventSource('/api/v1/events?access_token=' + encodeURIComponent(state.token));
  state.events = es;
  es.onopen = () => { document.body.dataset.live = '1'; };
  es.addEventListener('scan', (e) => onScan(JSON.parse(e.data)));
  es.addEventListener('device', (e) => {
    const d = JSON.parse(e.data);
    if (d.device) setDevice(d.device, d.state);
    refreshStatusSoon();
  });
  es.addEventListener('outbox', (e) => {
    const d = JSON.parse(e.data);
    if (state.status) renderOutbox(Object.assign({}, state.status.outbox, { pending: d.pending }));
    refreshStatusSoon();
  });
  es.addEventListener('transaction', (e) => {
    const d = JSON.parse(e.data);
    // The confirmation can arrive before the pay answer: remember it.
    if (d.sync) state.syncSeen[d.id] = d.sync;
    if (state.done && d.id === state.done.id && d.sync) { state.done.sync = d.sync; renderDoneSync(); }
    refreshStatusSoon();
  });
  es.onerror = () => {
    document.body.dataset.live = '0';
    // The browser retries by itself. Closed for good: the agent ends the
    // stream when its session ends (logout, idle expiry, restart), so ask with
    // the token: a 401 shows the login (api() does it), anything else reopens.
    if (es.readyState === EventSource.CLOSED && state.token) {
      setTimeout(async () => {
        if (state.events !== es) return;
        try { await api('GET', '/api/v1/transactions'); } catch (e) { if (e.status === 401) return; }
        if (state.events === es && state.token) openEvents();
      }, 3000);
    }
  };
}

function closeEvents() {
  if (state.events) state.events.close();
  state.events = null;
}

const SCAN_SOURCES = { camera: 'fotocamera', card_reader: 'lettore tessera', scanner: 'lettore' };
const SCAN_KINDS = {
  app_token: 'QR dell\'app', manual_code: 'codice manuale', notice: 'avviso pagoPA',
  fiscal_code: 'tessera sanitaria', unknown: 'non riconosciuto',
};

function scanText(d) {
  return 'Letto da ' + (SCAN_SOURCES[d.source] || d.source) + ': ' + (SCAN_KINDS[d.kind] || d.kind) + ' — ' + d.input;
}

function onScan(d) {
  const free = (state.screen === 'idle' && !$('scan-input').value.trim()) || state.screen === 'done' || state.screen === 'close';
  if (free && !state.busy && $('modal').hidden) {
    // Nothing in progress: start at once, the operator sees what was read.
    state.pendingScan = null;
    show('idle');
    $('scan-last').textContent = scanText(d);
    $('scan-last').hidden = false;
    run(() => startTx({ scan_id: d.scan_id }, scanText(d)));
  } else if (state.screen === 'tx' && state.tx && !state.busy && $('modal').hidden) {
    // A transaction is open: another child's code or a notice joins it.
    run(() => addItem({ scan_id: d.scan_id }, scanText(d)));
  } else {
    state.pendingScan = d;
    toast(scanText(d) + ' (in attesa: finire prima l\'operazione in corso)');
    renderIdle();
  }
}

// ---------------------------------------------------------------- screens

function show(name) {
  state.screen = name;
  document.body.dataset.screen = name;
  for (const s of document.querySelectorAll('.screen')) s.hidden = s.id !== 'screen-' + name;
  renderActions();
  focusScreen();
}

function focusScreen() {
  if (!$('modal').hidden) { ($('modal-input').hidden ? $('modal-ok') : $('modal-input')).focus(); return; }
  const tx = $('amount-entry').hidden ? 'add-input' : 'amount-input';
  const f = { login: $('login-operator').value ? 'login-pin' : 'login-operator', idle: 'scan-input', tx, cash: 'cash-input' }[state.screen];
  if (f) $(f).focus();
  else document.activeElement && document.activeElement.blur && document.activeElement.blur();
}

/** The action bar of each screen: [key, label, handler, primary?]. */
function actionsFor(screen) {
  const common = [['F2', 'Ristampa ultima ricevuta', reprintLast], ['F3', 'Ristampa per numero', reprintByNumber],
    ['F4', 'Chiusura giornata', askDayClose], ['F8', 'Copia PDF', openToday], ['F9', 'Esci', logout]];
  switch (screen) {
    case 'idle': return [['Invio', 'Avvia', () => run(startFromField), true], ...common];
    case 'choose': return [['Invio', state.ticks.size > 1 ? 'Conferma i ' + state.ticks.size + ' scelti' : 'Conferma', () => run(confirmChoice), true],
      ['F5', 'Spunta tutti', tickAll], items(state.tx).length
        ? ['Esc', 'Nessuno: torna al pagamento', () => run(chooseNone)]
        : ['Esc', 'Annulla operazione', askVoid]];
    case 'tx': {
      if (!multi(state.tx)) return [['Invio', 'Stampa pre-scontrino', () => run(confirmAmount), true], ['Esc', 'Annulla operazione', askVoid]];
      const more = items(state.tx).some((i) => i.n !== state.sel && needsAmount(i));
      return [['Invio', more ? 'Conferma importo, voce seguente' : 'Stampa pre-scontrino', () => run(confirmAmount), true],
        ['Canc', 'Togli la voce ' + (state.sel || ''), () => run(removeSelected)], ['Esc', 'Annulla operazione', askVoid]];
    }
    case 'cash': return [['Invio', 'Incassa', () => run(pay), true], ['F2', 'Ristampa pre-scontrino', () => run(printPreReceipt)],
      ...(multi(state.tx) ? [['Canc', 'Togli la voce ' + (state.sel || ''), () => run(removeSelected)]] : []),
      ['Esc', 'Annulla operazione', askVoid]];
    case 'done': return [['Invio', 'Nuova operazione', newOperation, true], ['F2', 'Ristampa ricevuta', reprintLast],
      ['F3', 'Ristampa per numero', reprintByNumber], ['F4', 'Chiusura giornata', askDayClose], ['F8', 'Copia PDF', openToday],
      ['F9', 'Esci', logout]];
    case 'today': {
      const a = [['Esc', 'Torna alla cassa', newOperation]];
      if (todaySelected()) a.unshift(['Invio', 'Copia PDF della ricevuta scelta', () => run(() => downloadPdf(todaySelected())), true]);
      return a.concat([['F5', 'Aggiorna', () => run(loadToday)], ['F8', 'Copia PDF per numero', pdfByNumber]]);
    }
    case 'close': {
      const a = [['Invio', 'Torna alla cassa', newOperation, true]];
      if (state.report && state.report.status === 'pending') a.push(['F5', 'Aggiorna esito', () => run(dayClose)]);
      return a.concat([['F2', 'Ristampa ultima ricevuta', reprintLast], ['F9', 'Esci', logout]]);
    }
    default: return [];
  }
}

function renderActions() {
  const bar = $('actions');
  bar.textContent = '';
  for (const [key, label, fn, primary] of actionsFor(state.screen)) {
    const b = document.createElement('button');
    b.dataset.key = key;
    if (primary) b.className = 'primary';
    const k = document.createElement('kbd');
    k.textContent = key;
    b.append(k, ' ' + label);
    b.addEventListener('click', (e) => { e.preventDefault(); fn(); });
    bar.append(b);
  }
}

function renderIdle() {
  const p = state.pendingScan;
  if (p && state.screen === 'idle') {
    $('scan-last').textContent = scanText(p) + ' — premere Invio per iniziare';
    $('scan-last').hidden = false;
  }
  if (state.done) {
    $('idle-last').textContent = 'Ultima operazione: ricevuta ' + state.done.receipt_number + ', ' + eur(state.done.total_cents) +
      ', resto ' + eur(state.done.change_cents) + '.';
    $('idle-last').hidden = false;
  }
}

function newOperation() {
  clearError();
  $('scan-input').value = '';
  $('scan-last').hidden = true;
  show('idle');
  renderIdle();
}

// ---------------------------------------------------------------- login

async function login() {
  const operator = $('login-operator').value.trim();
  const pin = $('login-pin').value;
  if (!operator) { localError('Inserire il nome dell\'operatore.'); $('login-operator').focus(); return; }
  if (!pin) { localError('Inserire il PIN.'); return; }
  try {
    await loginWith(operator, pin);
  } finally {
    // How many answers the login form got (lets a test wait for the next one).
    document.body.dataset.logins = String(Number(document.body.dataset.logins || 0) + 1);
  }
}

async function loginWith(operator, pin) {
  try {
    const r = await api('POST', '/api/v1/login', { operator, pin });
    state.token = r.token;
    state.operator = operator;
    sessionStorage.setItem('pos.token', r.token);
    sessionStorage.setItem('pos.operator', operator);
    localStorage.setItem('pos.lastOperator', operator);
    $('login-pin').value = '';
    $('login-lock').hidden = true;
    clearInterval(lockTimer);
    await afterLogin();
  } catch (e) {
    $('login-pin').value = '';
    if (e.code === 'wrong_pin') {
      const left = e.details.attempts_left;
      showError(e, left === 1 ? 'Attenzione: ancora un PIN errato e l\'operatore viene bloccato.' : undefined);
    } else if (e.code === 'operator_locked') {
      showLock(e);
    } else {
      throw e;
    }
  }
}

function showLock(e) {
  const until = new Date(e.details.locked_until);
  clearInterval(lockTimer);
  clearError();
  const tick = () => {
    const left = Math.max(0, Math.ceil((until - Date.now()) / 1000));
    if (!left) {
      clearInterval(lockTimer);
      $('login-lock').hidden = true;
      return;
    }
    const mm = Math.floor(left / 60), ss = String(left % 60).padStart(2, '0');
    $('login-lock-time').textContent = 'Troppi PIN errati. Riprovare tra ' + mm + ':' + ss +
      ' (alle ' + hhmm(until) + '), oppure accedere con un altro operatore.';
  };
  tick();
  $('login-lock').hidden = false;
  lockTimer = setInterval(tick, 1000);
}

async function afterLogin() {
  $('who').textContent = state.operator;
  $('who').title = 'Operatore collegato';
  openEvents();
  refreshStatus();
  // Resume a transaction left open (page reloaded, session expired).
  const open = sessionStorage.getItem('pos.tx');
  if (open) {
    try {
      const t = await api('GET', '/api/v1/transactions/' + encodeURIComponent(open));
      if (['choose_code', 'identified', 'amount_set', 'awaiting_cash'].includes(t.state)) {
        setTx(t);
        toast('Ripresa l\'operazione in corso.');
        return;
      }
    } catch (e) { /* gone: start afresh */ }
    sessionStorage.removeItem('pos.tx');
  }
  newOperation();
}

function sessionExpired() {
  state.token = null;
  sessionStorage.removeItem('pos.token');
  closeEvents();
  $('who').textContent = '';
  show('login');
  setTimeout(() => localError('Sessione scaduta: inserire di nuovo il PIN.', 'L\'operazione in corso non è persa: riprende dopo l\'accesso.'), 0);
}

async function logout() {
  if (state.tx) { localError('C\'è un\'operazione in corso.', 'Finirla o annullarla (Esc) prima di uscire.'); return; }
  try { await api('POST', '/api/v1/logout'); } catch (e) { /* leaving anyway */ }
  state.token = null;
  sessionStorage.removeItem('pos.token');
  closeEvents();
  $('who').textContent = '';
  show('login');
}

// ---------------------------------------------------------------- the transaction

function setTx(t) {
  state.tx = t;
  if (t && !['paid', 'voided'].includes(t.state)) sessionStorage.setItem('pos.tx', t.id);
  else sessionStorage.removeItem('pos.tx');
  if (!t) return;
  switch (t.state) {
    case 'choose_code': renderChoose(t); show('choose'); break;
    case 'identified': case 'amount_set': settleSel(t); renderTx(t); show('tx'); break;
    case 'awaiting_cash': renderCash(t); show('cash'); break;
    case 'paid': showDone(t); break;
    default: state.tx = null; newOperation();
  }
}

async function refreshTx() {
  try { setTx(await api('GET', '/api/v1/transactions/' + encodeURIComponent(state.tx.id))); } catch (e) { /* keep the error shown */ }
}

async function startFromField() {
  const text = $('scan-input').value.trim();
  if (!text) {
    if (state.pendingScan) {
      const p = state.pendingScan;
      state.pendingScan = null;
      return startTx({ scan_id: p.scan_id }, scanText(p));
    }
    localError('Nessun codice da cercare.', 'Leggere il QR o digitare il codice, poi premere Invio.');
    return;
  }
  await startTx({ input: text });
  $('scan-input').value = '';
}

/** `read`: what a camera or scanner read (masked by the agent), shown
 *  beside what it resolved to. */
async function startTx(body, read) {
  const t = await api('POST', '/api/v1/transactions', body);
  $('tx-read').textContent = read || '';
  $('tx-read').hidden = !read;
  $('scan-last').hidden = true;
  $('amount-input').value = '';
  $('add-input').value = '';
  state.sel = null;
  state.selShown = null;
  resetTicks();
  setTx(t);
}

// ---------------------------------------------------------------- items

/** The items of a transaction (agent-api.md "Several items in one payment"). */
function items(t) {
  return (t && t.items) || [];
}

/** Several items: the table replaces the one-item card. */
function multi(t) {
  return items(t).length > 1;
}

function itemOf(t, n) {
  return items(t).find((i) => i.n === n) || null;
}

function needsAmount(i) {
  return i.amount_cents === null || i.amount_cents === undefined;
}

/** Who or what an item pays for, as the operator reads it to the parent. */
function itemName(i) {
  if (i.kind === 'notice') return (i.notice && i.notice.description) || 'Avviso pagoPA';
  return (i.consumer && i.consumer.display_name) || (i.service && i.service.name) || 'Voce ' + i.n;
}

function itemDetail(i) {
  if (i.kind === 'notice') return 'Avviso pagoPA ' + (i.notice ? i.notice.notice_number : '');
  return [i.service && i.service.name, i.consumer && i.consumer.school, i.offline ? 'senza collegamento' : '']
    .filter(Boolean).join(' · ');
}

/** One line per item (cash and done screens). */
function renderItemLines(el, t, selectable) {
  el.textContent = '';
  el.hidden = !multi(t);
  if (el.hidden) return;
  for (const i of items(t)) {
    const d = document.createElement('div');
    d.dataset.n = String(i.n);
    if (selectable && i.n === state.sel) d.className = 'sel';
    d.textContent = i.n + '. ' + itemName(i) + ' — ' + (i.kind === 'notice' ? 'avviso ' + (i.notice ? i.notice.notice_number : '')
      : (i.service && i.service.name) || '') + ': ' + eur(i.amount_cents);
    if (selectable) d.addEventListener('click', () => selectItem(i.n));
    el.append(d);
  }
}

/** After the cart changed: the chosen item stays while it still needs its
 *  amount; otherwise the first item without one, or the first item. */
function settleSel(t) {
  const its = items(t);
  const cur = itemOf(t, state.sel);
  if (cur && needsAmount(cur)) return;
  const missing = its.find(needsAmount);
  if (missing) state.sel = missing.n;
  else if (!cur) state.sel = its.length ? its[0].n : null;
}

function selectItem(n) {
  if (!itemOf(state.tx, n) || state.sel === n) return;
  clearError();
  state.sel = n;
  if (state.screen === 'cash') renderItemLines($('cash-items'), state.tx, true); else renderTx(state.tx);
  renderActions();
  focusScreen();
}

function moveSel(step) {
  const its = items(state.tx);
  const at = its.findIndex((i) => i.n === state.sel);
  const next = its[at + step];
  if (next) selectItem(next.n);
}

/** `text`: typed or scanned into a field of the transaction's screen, or a
 *  `scan_id` from the scan events. */
async function addItem(body, read) {
  const t = state.tx;
  if (!t) return;
  if (t.state === 'awaiting_cash') {
    localError('Il pre-scontrino è già stampato: non si aggiungono altre voci a questo pagamento.',
      'Incassare questo pagamento e poi leggere il codice per una nuova operazione; oppure annullare (Esc) e ripartire con tutti i codici.');
    return;
  }
  let r;
  try {
    r = await api('POST', '/api/v1/transactions/' + encodeURIComponent(t.id) + '/items', body);
  } catch (e) {
    if (state.screen === 'tx' && state.tx) renderTx(state.tx);
    throw e;
  }
  resetTicks();
  setTx(r);
  if (r.state === 'choose_code') { toast('Tessera sanitaria: scegliere i servizi da aggiungere al pagamento.'); return; }
  const added = items(r).reduce((a, i) => (!a || i.n > a.n ? i : a), null);
  if (added) toast('Aggiunta la voce ' + added.n + ': ' + itemName(added) + (read ? ' (' + read + ')' : '') + '.');
}

/** Canc: the chosen item leaves the cart (a new pre-receipt is needed). */
async function removeSelected() {
  const t = state.tx;
  if (!t) return;
  const it = itemOf(t, state.sel);
  if (!it) return;
  if (!multi(t)) {
    localError('È l\'unica voce dell\'operazione.', 'Per toglierla annullare l\'operazione (Esc).');
    return;
  }
  const r = await api('POST', '/api/v1/transactions/' + encodeURIComponent(t.id) + '/items/' + it.n + '/remove');
  state.selShown = null;
  setTx(r);
  toast('Tolta la voce ' + it.n + ': ' + itemName(it) + '.' + (t.state === 'awaiting_cash' ? ' Ristampare il pre-scontrino (Invio).' : ''));
}

function renderItemsTable(t) {
  const table = $('items-table');
  table.textContent = '';
  const head = document.createElement('tr');
  for (const [text, cls] of [['', ''], ['Voce', ''], ['Saldo', 'n'], ['Ricarica', 'n'], ['Saldo finale', 'n']]) {
    const th = document.createElement('th');
    th.textContent = text;
    if (cls) th.className = cls;
    head.append(th);
  }
  table.append(head);
  let sum = 0;
  let fees = 0;
  let complete = true;
  for (const i of items(t)) {
    const amount = shownAmount(i);
    if (amount === null) complete = false; else sum += amount;
    fees += i.fee_cents || 0;
    const tr = document.createElement('tr');
    tr.dataset.n = String(i.n);
    if (i.n === state.sel) tr.className = 'sel';
    const cell = (text, cls) => {
      const td = document.createElement('td');
      td.textContent = text;
      if (cls) td.className = cls;
      tr.append(td);
      return td;
    };
    const k = document.createElement('kbd');
    k.textContent = String(i.n);
    cell('').append(k);
    const who = cell('', 'who');
    const b = document.createElement('b');
    b.textContent = itemName(i);
    const small = document.createElement('small');
    small.textContent = itemDetail(i);
    who.append(b, small);
    const balance = i.kind === 'notice' ? null : i.balance_cents;
    cell(eur(balance), 'n');
    if (amount === null) cell('da inserire', 'n missing'); else cell(eur(amount), 'n');
    cell(balance === null || balance === undefined || amount === null ? '–' : eur(balance + amount), 'n');
    tr.addEventListener('click', () => selectItem(i.n));
    table.append(tr);
  }
  const foot = (label, cents, cls) => {
    const tr = document.createElement('tr');
    if (cls) tr.className = cls;
    const th = document.createElement('th');
    th.colSpan = 3;
    th.textContent = label;
    const td = document.createElement('td');
    td.className = 'n';
    td.textContent = eur(cents);
    tr.append(th, td, document.createElement('td'));
    table.append(tr);
  };
  if (fees) foot('Commissioni', fees);
  foot(complete ? 'TOTALE' : 'TOTALE (finora)', sum + fees, 'total');
  $('tx-fee').textContent = eur(fees);
  $('tx-total').textContent = complete ? eur(sum + fees) : '–';
}

/** An item's amount as shown: the chosen recharge's follows what is typed. */
function shownAmount(i) {
  if (i.kind !== 'notice' && i.n === state.sel && state.selShown === i.n) {
    const typed = $('amount-input').value.trim();
    if (typed) return parseEuro(typed);
  }
  return needsAmount(i) ? null : i.amount_cents;
}

// ---------------------------------------------------------------- health card

function resetTicks() {
  state.ticks = new Set();
  state.cursor = 0;
}

/** The payer's codes that can be chosen (first nine: one key each). */
function choosable(t) {
  return (t.choices || []).slice(0, 9);
}

function renderChoose(t) {
  const list = $('choose-list');
  list.textContent = '';
  list.classList.toggle('many', (t.choices || []).length > 4);
  const cart = items(t);
  $('choose-cart').hidden = !cart.length;
  $('choose-cart').textContent = cart.length
    ? 'Già nel pagamento: ' + cart.map((i) => i.n + '. ' + itemName(i)).join(', ') + '. I servizi scelti qui si aggiungono.' : '';
  choosable(t).forEach((c, i) => {
    const row = document.createElement('div');
    row.className = 'choice' + (state.ticks.has(i) ? ' ticked' : '') + (i === state.cursor ? ' cur' : '');
    row.dataset.row = String(i);
    const tick = document.createElement('button');
    tick.className = 'tick';
    tick.tabIndex = -1;
    tick.textContent = state.ticks.has(i) ? '☑' : '☐';
    tick.title = 'Spunta per scegliere più servizi';
    tick.dataset.tick = String(i);
    const b = document.createElement('button');
    b.className = 'pick';
    b.tabIndex = -1;
    const k = document.createElement('kbd');
    k.textContent = String(i + 1);
    const who = c.consumer ? c.consumer.display_name + (c.consumer.school ? ' · ' + c.consumer.school : '') : '';
    const svc = c.service ? c.service.name : '';
    b.append(k, ' ' + [svc, who, c.creditor ? c.creditor.name : ''].filter(Boolean).join(' — '));
    if (c.status && c.status !== 'active') { b.disabled = true; tick.disabled = true; b.append(' (non attivo)'); }
    b.dataset.choice = String(i);
    tick.addEventListener('click', () => toggleTick(i));
    b.addEventListener('click', () => pressChoice(i));
    row.append(tick, b);
    list.append(row);
  });
}

function activeChoice(i) {
  const c = state.tx && choosable(state.tx)[i];
  return !!c && !(c.status && c.status !== 'active');
}

/** A row's number (or a tap on it): nothing ticked yet, that code alone at
 *  once (one child, one key); once ticking started, it ticks or unticks. */
function pressChoice(i) {
  if (!activeChoice(i)) return;
  if (state.ticks.size) toggleTick(i); else run(() => choose([i]));
}

function toggleTick(i) {
  if (!activeChoice(i)) return;
  clearError();
  if (state.ticks.has(i)) state.ticks.delete(i); else state.ticks.add(i);
  state.cursor = i;
  renderChoose(state.tx);
  renderActions();
}

function tickAll() {
  const all = choosable(state.tx).map((_, i) => i).filter(activeChoice);
  state.ticks = all.every((i) => state.ticks.has(i)) ? new Set() : new Set(all);
  renderChoose(state.tx);
  renderActions();
}

function moveCursor(step) {
  const n = choosable(state.tx).length;
  if (!n) return;
  state.cursor = Math.min(n - 1, Math.max(0, state.cursor + step));
  renderChoose(state.tx);
}

/** Enter: the ticked codes, or the row under the cursor when none is. */
async function confirmChoice() {
  const picked = state.ticks.size ? [...state.ticks].sort((a, b) => a - b) : [state.cursor];
  if (!picked.every(activeChoice)) { localError('Servizio non attivo.', 'Scegliere un servizio attivo.'); return; }
  await choose(picked);
}

/** Esc on a health card read into a cart: none of its codes, the cart stays. */
async function chooseNone() {
  const t = await api('POST', '/api/v1/transactions/' + encodeURIComponent(state.tx.id) + '/choose', { codes: [] });
  resetTicks();
  setTx(t);
}

async function choose(indices) {
  const codes = indices.map((i) => state.tx.choices[i]).filter(Boolean).map((c) => c.code);
  if (!codes.length) return;
  const body = codes.length === 1 ? { code: codes[0] } : { codes };
  const t = await api('POST', '/api/v1/transactions/' + encodeURIComponent(state.tx.id) + '/choose', body);
  resetTicks();
  setTx(t);
}

function renderTx(t) {
  const m = multi(t);
  $('tx-card').hidden = m;
  $('items-card').hidden = !m;
  document.querySelector('#screen-tx .two').classList.toggle('multi', m);
  $('amount-label').classList.toggle('strong-sub', m);
  $('amount-fixed-label').classList.toggle('strong-sub', m);
  if (m) { renderTxItems(t); return; }
  // One item: the card as before items existed.
  $('amount-label').textContent = 'Importo da ricaricare (€)';
  $('amount-fixed-label').textContent = 'Importo dell\'avviso';
  state.sel = items(t).length ? items(t)[0].n : null;
  state.selShown = state.sel;
  const notice = t.kind === 'notice';
  $('tx-name').textContent = notice ? (t.notice && t.notice.description) || 'Avviso di pagamento' : (t.consumer && t.consumer.display_name) || '';
  $('tx-school').textContent = notice ? 'Avviso di pagamento pagoPA' : (t.consumer && t.consumer.school) || '';
  $('tx-service').textContent = t.service ? t.service.name : (notice ? 'Avviso pagoPA' : '');
  $('tx-creditor').textContent = t.creditor ? t.creditor.name + ' (' + t.creditor.fiscal_code + ')' : '';
  $('tx-notice-row').hidden = !notice;
  $('tx-iuv-row').hidden = !notice;
  $('tx-due-row').hidden = !(notice && t.notice && t.notice.due_date);
  if (notice && t.notice) {
    $('tx-notice').textContent = t.notice.notice_number;
    $('tx-iuv').textContent = t.notice.iuv;
    $('tx-due').textContent = t.notice.due_date ? t.notice.due_date.split('-').reverse().join('/') : '';
  }
  $('tx-offline').hidden = !t.offline;
  $('amount-entry').hidden = notice;
  $('amount-fixed').hidden = !notice;
  $('amount-fixed-value').textContent = eur(t.amount_cents);
  const l = t.limits;
  $('amount-limits').textContent = l ? 'Minimo ' + eur(l.min_cents) + ' — massimo ' + eur(l.max_cents) : '';
  if (!notice && t.amount_cents && !$('amount-input').value) $('amount-input').value = (t.amount_cents / 100).toFixed(2).replace('.', ',');
  renderTotals();
}

/** Several items: the table, and the amount entry of the chosen item. */
function renderTxItems(t) {
  if (!itemOf(t, state.sel)) settleSel(t);
  const it = itemOf(t, state.sel);
  const notice = it.kind === 'notice';
  $('amount-label').textContent = 'Ricarica della voce ' + it.n + ': ' + itemName(it) + ' (€)';
  $('amount-fixed-label').textContent = 'Importo della voce ' + it.n + ': ' + itemName(it);
  $('amount-entry').hidden = notice;
  $('amount-fixed').hidden = !notice;
  $('amount-fixed-value').textContent = eur(it.amount_cents);
  const l = it.limits;
  $('amount-limits').textContent = l && !notice ? 'Minimo ' + eur(l.min_cents) + ' — massimo ' + eur(l.max_cents) : '';
  if (state.selShown !== it.n) {
    $('amount-input').value = notice || needsAmount(it) ? '' : (it.amount_cents / 100).toFixed(2).replace('.', ',');
    state.selShown = it.n;
  }
  renderTotals();
}

function renderTotals() {
  const t = state.tx;
  if (!t) return;
  if (multi(t)) { renderItemsTable(t); return; }
  const amount = t.kind === 'notice' ? t.amount_cents : parseEuro($('amount-input').value);
  const fee = t.fee_cents || 0;
  $('tx-fee').textContent = eur(fee);
  $('tx-total').textContent = amount === null ? '–' : eur(amount + fee);
}

/** The typed amount in cents, or null after showing what is wrong. */
function typedAmount(limits) {
  const cents = parseEuro($('amount-input').value);
  if (cents === null || cents <= 0) {
    localError('Importo non valido.', 'Digitare l\'importo in euro (es. 20 oppure 12,50) o usare F5, F6, F7.');
    return null;
  }
  if (limits && (cents < limits.min_cents || cents > limits.max_cents)) {
    showError({ code: 'amount_out_of_range', message: 'L\'importo ' + eur(cents) + ' non è ammesso per questo servizio.' },
      'Digitare un importo tra ' + eur(limits.min_cents) + ' e ' + eur(limits.max_cents) + '.');
    return null;
  }
  return cents;
}

async function confirmAmount() {
  const t = state.tx;
  if (multi(t)) { await confirmItemAmount(); return; }
  if (t.kind !== 'notice') {
    const cents = typedAmount(t.limits);
    if (cents === null) return;
    if (t.state === 'identified' || t.amount_cents !== cents) {
      state.tx = await api('POST', '/api/v1/transactions/' + encodeURIComponent(t.id) + '/amount', { amount_cents: cents });
    }
  }
  await printPreReceipt();
}

/** Several items, Enter: the chosen recharge's amount (`item: n`), then the
 *  next item still without one; once every item has its amount, the
 *  pre-receipt. */
async function confirmItemAmount() {
  const t = state.tx;
  const it = itemOf(t, state.sel);
  let next = t;
  if (it && it.kind !== 'notice' && ($('amount-input').value.trim() || needsAmount(it))) {
    const cents = typedAmount(it.limits);
    if (cents === null) return;
    if (it.amount_cents !== cents) {
      next = await api('POST', '/api/v1/transactions/' + encodeURIComponent(t.id) + '/amount', { amount_cents: cents, item: it.n });
    }
  }
  const missing = items(next).find(needsAmount);
  if (missing) {
    state.sel = missing.n;
    state.selShown = null;
    setTx(next);
    return;
  }
  state.tx = next;
  await printPreReceipt();
}

async function printPreReceipt() {
  let t;
  try {
    t = await api('POST', '/api/v1/transactions/' + encodeURIComponent(state.tx.id) + '/pre-receipt');
  } catch (e) {
    // A refused notice activation names its item: show that row.
    const n = e.details && e.details.item;
    if (n && multi(state.tx) && itemOf(state.tx, n)) {
      state.sel = n;
      state.selShown = null;
      if (state.screen === 'tx') { renderTx(state.tx); renderActions(); }
      e.hint = 'Voce ' + n + ' (' + itemName(itemOf(state.tx, n)) + '): toglierla con Canc, oppure annullare l\'operazione (Esc).';
    }
    throw e;
  }
  setTx(t);
  if (state.screen === 'cash') toast(printerProblem() ? 'Pre-scontrino NON stampato: controllare la stampante.' : 'Pre-scontrino stampato.');
}

function renderCash(t) {
  $('cash-total').textContent = eur(t.total_cents);
  const who = t.kind === 'notice'
    ? 'Avviso ' + (t.notice ? t.notice.notice_number : '') + (t.notice && t.notice.description ? ' — ' + t.notice.description : '')
    : [(t.consumer && t.consumer.display_name), t.service && t.service.name].filter(Boolean).join(' — ');
  $('cash-who').textContent = (multi(t) ? items(t).length + ' voci (↑ ↓ e Canc per toglierne una)' : who) +
    (t.fee_cents ? ' (importo ' + eur(t.amount_cents) + ' + commissione ' + eur(t.fee_cents) + ')' : '');
  if (!itemOf(t, state.sel)) settleSel(t);
  renderItemLines($('cash-items'), t, true);
  $('cash-input').value = '';
  const q = $('cash-quick');
  q.textContent = '';
  const notes = [500, 1000, 2000, 5000, 10000, 20000].filter((n) => n > t.total_cents).slice(0, 3);
  [['F5', 'Esatto', t.total_cents], ...notes.map((n, i) => ['F' + (6 + i), eur(n).replace(',00', ''), n])].forEach(([key, label, cents]) => {
    const b = document.createElement('button');
    b.className = 'q';
    b.dataset.key = key;
    b.dataset.cents = String(cents);
    const k = document.createElement('kbd');
    k.textContent = key;
    b.append(k, ' ' + label);
    b.addEventListener('click', () => setCash(cents));
    q.append(b);
  });
  renderChange();
  renderPrinterWarnings();
}

function setCash(cents) {
  $('cash-input').value = (cents / 100).toFixed(2).replace('.', ',');
  renderChange();
  $('cash-input').focus();
}

function renderChange() {
  const t = state.tx;
  const el = $('cash-change');
  const c = parseEuro($('cash-input').value);
  if (!t || c === null) { el.textContent = $('cash-input').value.trim() ? 'Importo non valido' : 'Resto: –'; el.className = 'change'; return; }
  const diff = c - t.total_cents;
  el.textContent = diff >= 0 ? 'Resto: ' + eur(diff) : 'Mancano ' + eur(-diff);
  el.className = 'change ' + (diff >= 0 ? 'ok' : 'bad');
}

async function pay() {
  const t = state.tx;
  const c = parseEuro($('cash-input').value);
  if (c === null) { localError('Digitare i contanti ricevuti.', 'In euro, es. 50 oppure 20,50; F5 se il genitore dà l\'importo esatto.'); return; }
  if (c < t.total_cents) {
    showError({ code: 'tendered_too_low', message: 'Ricevuti ' + eur(c) + ', totale ' + eur(t.total_cents) + ': mancano ' + eur(t.total_cents - c) + '.' });
    return;
  }
  let r;
  try {
    r = await api('POST', '/api/v1/transactions/' + encodeURIComponent(t.id) + '/pay', { tendered_cents: c });
  } catch (e) {
    if (e.code === 'network') {
      showError(e, 'Non si sa se il pagamento è stato registrato: premere di nuovo Invio. Un pagamento non viene mai registrato due volte.');
      return;
    }
    throw e;
  }
  const paid = Object.assign({}, t, r, { tendered_cents: c });
  state.tx = null;
  sessionStorage.removeItem('pos.tx');
  showDone(paid);
  refreshStatusSoon();
}

function showDone(t) {
  state.tx = null;
  state.done = t;
  state.lastReceipt = t.receipt_number;
  sessionStorage.setItem('pos.lastReceipt', t.receipt_number);
  $('done-receipt').textContent = t.receipt_number;
  $('done-change').textContent = eur(t.change_cents);
  $('done-what').textContent = 'Incassati ' + eur(t.tendered_cents) + ' per un totale di ' + eur(t.total_cents) +
    (multi(t) ? ' (' + items(t).length + ' voci, una sola ricevuta).' : '.');
  renderItemLines($('done-items'), t);
  if (state.syncSeen[t.id] && t.sync === 'pending') t.sync = state.syncSeen[t.id];
  state.syncSeen = {};
  renderDoneSync();
  renderPrinterWarnings();
  show('done');
  followSync();
}

let syncPoll = null;
/** While the done screen waits for the backend: follow the events, and ask
 *  now and then in case an event was missed (stream reconnecting). */
function followSync() {
  clearTimeout(syncPoll);
  const d = state.done;
  if (!d || d.sync !== 'pending' || state.screen !== 'done') return;
  syncPoll = setTimeout(async () => {
    try {
      const t = await api('GET', '/api/v1/transactions/' + encodeURIComponent(d.id));
      if (state.done === d && t.sync) { d.sync = t.sync; renderDoneSync(); }
    } catch (e) { /* the status bar shows what is wrong */ }
    followSync();
  }, 3000);
}

function renderDoneSync() {
  const el = $('done-sync');
  const s = state.done && state.done.sync;
  const [text, cls] = {
    confirmed: ['Confermato dal Comune.', 'ok'],
    rejected: ['RIFIUTATO dal Comune: restituire i contanti al genitore (compare nella chiusura).', 'bad'],
  }[s] || ['In attesa di conferma dal Comune: il pagamento è registrato e partirà da solo.', 'warn'];
  el.textContent = text;
  el.className = 'badge ' + cls;
  el.dataset.sync = s || '';
}

function askVoid() {
  if (!state.tx) return;
  modal({
    title: 'Annullare l\'operazione?',
    text: (multi(state.tx) ? 'Tutte le ' + items(state.tx).length + ' voci vengono annullate. ' : '') +
      'Il genitore non paga nulla e non viene registrato nessun pagamento.',
    ok: 'Sì, annulla',
    onOk: () => run(async () => {
      await api('POST', '/api/v1/transactions/' + encodeURIComponent(state.tx.id) + '/void', { reason: 'annullata dall\'operatore' });
      state.tx = null;
      sessionStorage.removeItem('pos.tx');
      newOperation();
      toast('Operazione annullata.');
    }),
  });
}

// ---------------------------------------------------------------- reprint, day close

function reprintLast() {
  if (state.tx) { localError('C\'è un\'operazione in corso.', 'Finirla o annullarla (Esc) prima di ristampare una ricevuta.'); return; }
  if (!state.lastReceipt) { reprintByNumber(); return; }
  run(() => reprint(state.lastReceipt));
}

async function reprint(number) {
  await api('POST', '/api/v1/receipts/' + encodeURIComponent(number) + '/reprint');
  toast(printerProblem() ? 'Copia NON stampata: controllare la stampante.' : 'Copia della ricevuta ' + number + ' stampata.');
}

/** "42" -> "T-000123/2026/000042" (this terminal, this year); full numbers pass through. */
function receiptNumber(text) {
  const s = text.trim().toUpperCase();
  if (/^\d{1,6}$/.test(s) && state.terminal) return state.terminal + '/' + new Date().getFullYear() + '/' + s.padStart(6, '0');
  return s;
}

function reprintByNumber() {
  if (state.tx) { localError('C\'è un\'operazione in corso.', 'Finirla o annullarla (Esc) prima di ristampare una ricevuta.'); return; }
  modal({
    title: 'Ristampa di una ricevuta',
    text: 'Numero della ricevuta (es. T-000123/2026/000042, oppure solo 42 per quest\'anno).',
    input: state.lastReceipt || '',
    ok: 'Ristampa',
    onOk: (v) => {
      if (!v.trim()) return;
      run(() => reprint(receiptNumber(v)));
    },
  });
}

/** Where the PDF copy of a receipt is (GET, with the session's token). */
function copyPdfUrl(number) {
  return '/api/v1/receipts/' + encodeURIComponent(number) + '/copy.pdf';
}

/** The copy of a receipt as a PDF (for a parent who asks for it by e-mail). */
async function downloadPdf(number) {
  const r = await fetch(copyPdfUrl(number), {
    headers: { Authorization: 'Bearer ' + state.token },
  }).catch(() => null);
  if (!r) throw new ApiError(0, { error: { code: 'network', message: 'Nessuna risposta dal programma di cassa.' } });
  if (!r.ok) throw new ApiError(r.status, await r.json().catch(() => ({})));
  const url = URL.createObjectURL(await r.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = 'ricevuta-' + number.replace(/\//g, '-') + '.pdf';
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  toast('Copia PDF della ricevuta ' + number + ' scaricata.');
}

function pdfByNumber() {
  if (state.tx) { localError('C\'è un\'operazione in corso.', 'Finirla o annullarla (Esc) prima di scaricare una copia.'); return; }
  modal({
    title: 'Copia PDF di una ricevuta',
    text: 'Numero della ricevuta (es. T-000123/2026/000042, oppure solo 42 per quest\'anno).',
    input: state.lastReceipt || '',
    ok: 'Scarica PDF',
    onOk: (v) => {
      if (!v.trim()) return;
      run(() => downloadPdf(receiptNumber(v)));
    },
  });
}

// ---------------------------------------------------------------- today's list

/** F8: today's transactions, each paid one with its "Copia PDF"; F8 again
 *  asks for any other receipt by its number. */
function openToday() {
  if (state.tx) { localError('C\'è un\'operazione in corso.', 'Finirla o annullarla (Esc) prima di aprire le operazioni di oggi.'); return; }
  run(async () => {
    await loadToday();
    show('today');
  });
}

/** Today's transactions (the counter's calendar day: `GET /api/v1/transactions`
 *  without a date), newest first. */
async function loadToday() {
  const keep = todaySelected();
  const r = await api('GET', '/api/v1/transactions');
  // Newest first; within one second (the times' precision) by receipt.
  const key = (t) => (t.created_at || '') + ' ' + (t.receipt_number || '');
  state.today = (r.transactions || []).slice().sort((a, b) => (key(a) < key(b) ? 1 : key(a) > key(b) ? -1 : 0));
  state.todaySel = state.today.findIndex((t) => hasCopy(t) && (!keep || t.receipt_number === keep));
  if (state.todaySel < 0) state.todaySel = state.today.findIndex(hasCopy);
  renderToday();
  if (state.screen === 'today') renderActions();
}

/** Only a paid transaction has a receipt, hence a copy. */
function hasCopy(t) {
  return t.state === 'paid' && !!t.receipt_number;
}

function todaySelected() {
  const t = state.today[state.todaySel];
  return t && hasCopy(t) ? t.receipt_number : null;
}

const TODAY_STATES = {
  paid: 'Pagata', voided: 'Annullata', choose_code: 'In corso', identified: 'In corso', amount_set: 'In corso', awaiting_cash: 'In corso',
};
const TODAY_SYNC = { confirmed: 'confermata', pending: 'in attesa del Comune', rejected: 'RIFIUTATA: rimborsare' };

function renderToday() {
  const table = $('today-list');
  table.textContent = '';
  $('today-date').textContent = new Date().toLocaleDateString('it-IT');
  $('today-empty').hidden = state.today.length > 0;
  if (!state.today.length) return;
  row(table, ['Ora', 'Ricevuta', 'Operazione', 'Totale', 'Stato', ''], true);
  state.today.forEach((t, i) => {
    const tr = document.createElement('tr');
    tr.dataset.tx = t.id;
    if (i === state.todaySel) tr.className = 'sel';
    const cell = (text, cls) => {
      const td = document.createElement('td');
      td.textContent = text;
      if (cls) td.className = cls;
      tr.append(td);
      return td;
    };
    cell(hhmm(new Date(t.paid_at || t.created_at)));
    cell(t.receipt_number || '–', 'rn');
    const who = multi(t) ? items(t).length + ' voci: ' + items(t).map(itemName).join(', ')
      : t.kind === 'notice'
        ? 'Avviso pagoPA' + (t.notice && t.notice.description ? ' — ' + t.notice.description : '')
        : [(t.service && t.service.name) || '', (t.consumer && t.consumer.display_name) || ''].filter(Boolean).join(' — ');
    cell(who);
    cell(eur(t.total_cents), 'n');
    cell((TODAY_STATES[t.state] || t.state) + (t.state === 'paid' && t.sync ? ', ' + (TODAY_SYNC[t.sync] || t.sync) : ''),
      t.state === 'paid' && t.sync === 'rejected' ? 'bad' : '');
    const act = cell('');
    if (hasCopy(t)) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'copy-pdf';
      b.textContent = 'Copia PDF';
      b.tabIndex = -1;
      b.dataset.receipt = t.receipt_number;
      b.dataset.url = copyPdfUrl(t.receipt_number);
      b.addEventListener('click', (e) => {
        e.preventDefault();
        chooseToday(i);
        run(() => downloadPdf(t.receipt_number));
      });
      act.append(b);
    }
    table.append(tr);
  });
  const sel = table.querySelector('tr.sel');
  if (sel) sel.scrollIntoView({ block: 'nearest' });
}

/** Choose the paid receipt at `i` (arrows: the next one up or down). */
function chooseToday(i) {
  if (!state.today[i] || !hasCopy(state.today[i])) return;
  state.todaySel = i;
  for (const tr of $('today-list').querySelectorAll('tr[data-tx]')) tr.classList.toggle('sel', tr.dataset.tx === state.today[i].id);
  const sel = $('today-list').querySelector('tr.sel');
  if (sel) sel.scrollIntoView({ block: 'nearest' });
  renderActions();
}

function moveToday(step) {
  for (let i = state.todaySel + step; i >= 0 && i < state.today.length; i += step) {
    if (hasCopy(state.today[i])) { chooseToday(i); return; }
  }
}

function askDayClose() {
  if (state.tx) { localError('C\'è un\'operazione in corso.', 'Finirla o annullarla (Esc) prima della chiusura.'); return; }
  modal({
    title: 'Chiusura giornaliera',
    text: 'Stampa il rapporto della giornata e lo invia al Comune. Si può ripetere: una seconda chiusura senza nuovi pagamenti restituisce la stessa.',
    ok: 'Chiudi la giornata',
    onOk: () => run(dayClose),
  });
}

async function dayClose() {
  state.report = await api('POST', '/api/v1/day/close');
  renderReport(state.report);
  show('close');
  refreshStatusSoon();
}

function row(table, cells, head) {
  const tr = document.createElement('tr');
  cells.forEach((c, i) => {
    const td = document.createElement(head || i === 0 ? 'th' : 'td');
    td.textContent = c;
    if (i > 0 && /\d/.test(String(c))) td.className = 'n';
    tr.append(td);
  });
  table.append(tr);
}

function renderReport(r) {
  $('close-id').textContent = r.closure_id || '';
  const st = $('close-status');
  const a = r.answer || {};
  st.dataset.status = r.status || '';
  if (r.status === 'matched') {
    st.textContent = 'Quadratura con il Comune: OK.';
    st.className = 'badge ok';
  } else if (r.status === 'mismatch') {
    st.textContent = 'DIFFERENZA con il Comune: il Comune registra ' + (a.server_count ?? '?') + ' operazioni per ' + eur(a.server_total_cents) +
      ', la cassa ' + r.count + ' per ' + eur(r.total_cents) + '. Conservare il rapporto stampato e avvisare il Comune' +
      (r.pending && r.pending.length ? ' (' + r.pending.length + ' pagamenti ancora in attesa di invio possono spiegarla).' : '.');
    st.className = 'badge bad';
  } else {
    st.textContent = 'Rapporto in coda per l\'invio al Comune: l\'esito arriva appena il Comune risponde (F5 per aggiornare).';
    st.className = 'badge warn';
  }
  const f = $('close-facts');
  f.textContent = '';
  row(f, ['Operazioni', String(r.count)]);
  row(f, ['Totale per il Comune', eur(r.total_cents)]);
  if (r.fees_cents !== undefined) row(f, ['Commissioni', eur(r.fees_cents)]);
  row(f, ['Contanti attesi in cassa', eur(r.cash_expected_cents)]);
  row(f, ['Prima ricevuta', r.first_receipt || '–']);
  row(f, ['Ultima ricevuta', r.last_receipt || '–']);
  row(f, ['Annullate', String(r.voids ?? 0)]);
  row(f, ['Da rimborsare', (r.rejected || []).length + ' (' + eur(r.refund_total_cents || 0) + ')']);
  const s = $('close-services');
  s.textContent = '';
  row(s, ['Servizio', 'Ente', 'N.', 'Totale'], true);
  for (const g of r.by_service || []) row(s, [g.service || '–', g.creditor || '–', String(g.count), eur(g.total_cents)]);
  const x = $('close-extra');
  x.textContent = '';
  const line = (text, cls) => { const p = document.createElement('div'); p.textContent = text; if (cls) p.className = cls; x.append(p); };
  if ((r.pending || []).length) line('In attesa di invio al Comune: ' + r.pending.map((p) => p.receipt_number).join(', ') + ' (partono da soli).');
  for (const p of r.rejected || []) line('RIMBORSARE ' + eur(p.total_cents) + ' — ricevuta ' + p.receipt_number + ' (' + (p.service || '') + ')', 'badge bad');
}

// ---------------------------------------------------------------- modal

let modalOpts = null;
function modal(opts) {
  modalOpts = opts;
  clearError();
  $('modal-title').textContent = opts.title;
  $('modal-text').textContent = opts.text || '';
  $('modal-ok-label').textContent = opts.ok || 'Conferma';
  $('modal-input').hidden = opts.input === undefined;
  $('modal-input').value = opts.input || '';
  $('modal').hidden = false;
  document.body.dataset.modal = '1';
  focusScreen();
  if (!$('modal-input').hidden) $('modal-input').select();
}

function closeModal() {
  $('modal').hidden = true;
  delete document.body.dataset.modal;
  modalOpts = null;
  focusScreen();
}

function modalOk() {
  const o = modalOpts;
  const v = $('modal-input').value;
  closeModal();
  if (o && o.onOk) o.onOk(v);
}

// ---------------------------------------------------------------- keypad

function buildKeypads() {
  for (const pad of document.querySelectorAll('.keypad')) {
    const target = pad.dataset.target;
    for (const k of ['7', '8', '9', '⌫', '4', '5', '6', 'C', '1', '2', '3', ',', '0', '00']) {
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = k;
      b.tabIndex = -1;
      b.addEventListener('click', () => {
        const input = $(target);
        if (k === '⌫') input.value = input.value.slice(0, -1);
        else if (k === 'C') input.value = '';
        else input.value += k;
        input.dispatchEvent(new Event('input'));
        input.focus();
      });
      pad.append(b);
    }
    const ok = document.createElement('button');
    ok.type = 'button';
    ok.className = 'primary';
    ok.style.gridColumn = 'span 2';
    ok.tabIndex = -1;
    ok.textContent = 'OK';
    ok.addEventListener('click', () => run(target === 'cash-input' ? pay : confirmAmount));
    pad.append(ok);
  }
}

// ---------------------------------------------------------------- keyboard

/** A keyboard-wedge scanner types a whole code in a burst ending with Enter.
 *  In the amount and cash fields such a burst is a code read by mistake
 *  during an operation, never an amount. */
function looksLikeScan(text) {
  return text.replace(/[\s,.€]/g, '').length > 7 || /[A-Za-z|=;]/.test(text);
}

document.addEventListener('keydown', (e) => {
  if (!$('modal').hidden) {
    if (e.key === 'Enter') { e.preventDefault(); modalOk(); } else if (e.key === 'Escape') { e.preventDefault(); closeModal(); }
    return;
  }
  if (state.screen === 'login') return;
  const key = e.key === 'Enter' ? 'Invio' : e.key === 'Escape' ? 'Esc' : e.key === 'Delete' ? 'Canc' : e.key;
  if (e.key === 'Escape' && !$('error').hidden && state.screen !== 'choose' && !state.tx) { e.preventDefault(); clearError(); return; }
  if (state.screen === 'tx' && /^F[567]$/.test(key) && !$('amount-entry').hidden) {
    e.preventDefault();
    const cents = { F5: 1000, F6: 2000, F7: 5000 }[key];
    $('amount-input').value = String(cents / 100);
    renderTotals();
    $('amount-input').focus();
    return;
  }
  if (state.screen === 'cash' && /^F[5-8]$/.test(key)) {
    e.preventDefault();
    const b = document.querySelector('#cash-quick button[data-key="' + key + '"]');
    if (b) setCash(parseInt(b.dataset.cents, 10));
    return;
  }
  if (state.screen === 'today' && (e.key === 'ArrowDown' || e.key === 'ArrowUp')) {
    e.preventDefault();
    moveToday(e.key === 'ArrowDown' ? 1 : -1);
    return;
  }
  if (state.screen === 'choose' && /^[1-9]$/.test(e.key)) {
    e.preventDefault();
    if (!state.busy) pressChoice(parseInt(e.key, 10) - 1);
    return;
  }
  if (state.screen === 'choose' && (e.key === ' ' || e.key === 'ArrowDown' || e.key === 'ArrowUp')) {
    e.preventDefault();
    if (e.key === ' ') toggleTick(state.cursor); else moveCursor(e.key === 'ArrowDown' ? 1 : -1);
    return;
  }
  if ((state.screen === 'tx' || state.screen === 'cash') && multi(state.tx) && (e.key === 'ArrowDown' || e.key === 'ArrowUp')) {
    e.preventDefault();
    if (!state.busy) moveSel(e.key === 'ArrowDown' ? 1 : -1);
    return;
  }
  if (state.screen === 'tx' || state.screen === 'cash') {
    // A code read or typed while a transaction is open joins it: the
    // amount, cash or "altro codice" field holds it, Enter ends it.
    const fields = state.screen === 'tx' ? ['amount-input', 'add-input'] : ['cash-input'];
    const field = $(fields.includes(document.activeElement && document.activeElement.id) ? document.activeElement.id : fields[0]);
    const text = field.value.trim();
    if (e.key === 'Enter' && text && (looksLikeScan(text) || field.id === 'add-input')) {
      e.preventDefault();
      field.value = '';
      if (state.screen === 'cash') renderChange();
      state.selShown = null;
      run(() => addItem({ input: text }));
      return;
    }
  }
  if (state.screen === 'done' && e.key.length === 1 && !e.ctrlKey && !e.altKey && !e.metaKey) {
    // The next parent's code: typed or scanned straight away.
    newOperation();
    return; // the key lands in the now focused scan field
  }
  const action = actionsFor(state.screen).find(([k]) => k === key);
  if (action) {
    e.preventDefault();
    action[2]();
  } else if (/^F\d+$/.test(key) && key !== 'F11' && key !== 'F12') {
    e.preventDefault(); // no browser reload or search by mistake
  }
});

// ---------------------------------------------------------------- wiring

function init() {
  buildKeypads();
  $('login-form').addEventListener('submit', (e) => { e.preventDefault(); run(login); });
  $('login-operator').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !$('login-pin').value) { e.preventDefault(); e.stopPropagation(); $('login-pin').focus(); }
  });
  $('amount-input').addEventListener('input', renderTotals);
  $('cash-input').addEventListener('input', renderChange);
  for (const b of document.querySelectorAll('[data-quick]')) {
    b.addEventListener('click', () => { $('amount-input').value = String(parseInt(b.dataset.quick, 10) / 100); renderTotals(); $('amount-input').focus(); });
  }
  $('modal-ok').addEventListener('click', modalOk);
  $('modal-cancel').addEventListener('click', closeModal);
  $('error').addEventListener('click', clearError);
  for (const id of ['scan-input', 'amount-input', 'add-input', 'cash-input']) $(id).addEventListener('input', () => { if ($('error').dataset.code) clearError(); });
  $('login-operator').addEventListener('input', () => { clearInterval(lockTimer); $('login-lock').hidden = true; });
  $('login-operator').value = localStorage.getItem('pos.lastOperator') || '';
  refreshStatus();
  setInterval(refreshStatus, 5000);
  if (state.token) afterLogin(); else show('login');
}

init();
