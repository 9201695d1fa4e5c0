//! `pos-agent devices`: what is plugged into this machine, and the config
//! line that uses it.
//!
//! A technician installing a counter has a camera, a printer and maybe a card
//! reader in hand and needs the exact `device = "..."` line for each. This
//! module reads what Linux already knows, without opening anything for
//! longer than a capability query:
//!
//! ```text
//! cameras        /dev/video*        name from /sys/class/video4linux/videoN/name,
//!                                   capture or not from VIDIOC_QUERYCAP
//! serial ports   serialport::available_ports() (USB vendor/product/serial),
//!                stable names from /dev/serial/by-id
//! USB printers   /dev/usb/lp*       IEEE 1284 id from /sys/class/usbmisc/lpN/device
//! ```
//!
//! Every path is taken relative to [`Roots`], so the unit tests build a fake
//! `/sys` and `/dev` in a temp directory; the real command uses `/sys` and
//! `/dev`. A machine with nothing plugged in gets one "nessuna trovata" line
//! per section, never an error.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// Where the kernel's views live: `/sys` and `/dev` on a real machine.
#[derive(Debug, Clone)]
pub struct Roots {
    pub sys: PathBuf,
    pub dev: PathBuf,
}

impl Roots {
    pub fn system() -> Roots {
        Roots {
            sys: PathBuf::from("/sys"),
            dev: PathBuf::from("/dev"),
        }
    }
}

/// One `/dev/videoN` node.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CameraInfo {
    pub path: String,
    /// The driver's name for the camera (`HD Pro Webcam C920`).
    pub name: Option<String>,
    /// `Some(true)` for a video capture node, `Some(false)` for the metadata
    /// node most UVC webcams add; `None` when it could not be asked (no
    /// permission, not a V4L2 device).
    pub capture: Option<bool>,
    /// A stable name under `/dev/v4l/by-id`, when udev made one.
    pub by_id: Option<String>,
    /// Why this node may not work as is (permissions), in Italian.
    pub note: Option<String>,
    /// The config line for this camera; `None` for non-capture nodes.
    pub config: Option<String>,
}

/// One serial port.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SerialInfo {
    pub path: String,
    /// `usb`, `pci`, `bluetooth` or `other` (built-in UARTs).
    pub kind: &'static str,
    /// USB ids as lsusb prints them (`0403`).
    pub vendor_id: Option<String>,
    pub product_id: Option<String>,
    pub serial_number: Option<String>,
    pub manufacturer: Option<String>,
    pub product: Option<String>,
    /// A stable name under `/dev/serial/by-id` (survives replugging and the
    /// order adapters are found at boot), when udev made one.
    pub by_id: Option<String>,
    pub note: Option<String>,
    /// `[card_reader]` line (9600 baud, the usual reader speed).
    pub config_card_reader: String,
    /// `[printer]` line for a serial printer (19200 baud, the usual default).
    pub config_printer: String,
}

/// One `/dev/usb/lpN` printer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UsbPrinterInfo {
    pub path: String,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    /// The whole IEEE 1284 device id (`MFG:EPSON;CMD:ESC/POS;MDL:TM-T20II;`).
    pub ieee1284_id: Option<String>,
    pub vendor_id: Option<String>,
    pub product_id: Option<String>,
    pub serial_number: Option<String>,
    pub note: Option<String>,
    pub config: String,
}

/// What `pos-agent devices` prints (and `--json` writes).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DeviceList {
    pub cameras: Vec<CameraInfo>,
    pub serial_ports: Vec<SerialInfo>,
    pub usb_printers: Vec<UsbPrinterInfo>,
    /// Sources that could not be read (the rest of the list is still right).
    pub warnings: Vec<String>,
}

/// Everything attached to this machine.
pub fn list() -> DeviceList {
    let roots = Roots::system();
    let mut out = DeviceList::default();
    let ports = match system_serial_ports(&roots) {
        Ok(p) => p,
        Err(e) => {
            out.warnings
                .push(format!("porte seriali non elencate: {e}"));
            Vec::new()
        }
    };
    let listed = list_in(&roots, ports);
    out.cameras = listed.cameras;
    out.serial_ports = listed.serial_ports;
    out.usb_printers = listed.usb_printers;
    out.warnings.extend(listed.warnings);
    out
}

/// A serial port as the enumeration found it, before it is described.
#[derive(Debug, Clone, PartialEq)]
pub struct FoundPort {
    pub path: String,
    pub kind: &'static str,
    pub usb: Option<UsbIds>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct UsbIds {
    pub vid: u16,
    pub pid: u16,
    pub serial_number: Option<String>,
    pub manufacturer: Option<String>,
    pub product: Option<String>,
}

/// `serialport::available_ports()`, guarded: on Linux without libudev it
/// scans `/sys/class/tty` and panics when that is missing (containers).
fn system_serial_ports(roots: &Roots) -> Result<Vec<FoundPort>, String> {
    if !roots.sys.join("class/tty").is_dir() {
        return Ok(Vec::new());
    }
    let ports = serialport::available_ports().map_err(|e| e.to_string())?;
    Ok(ports
        .into_iter()
        .map(|p| {
            let (kind, usb) = match p.port_type {
                serialport::SerialPortType::UsbPort(u) => (
                    "usb",
                    Some(UsbIds {
                        vid: u.vid,
                        pid: u.pid,
                        serial_number: u.serial_number,
                        manufacturer: u.manufacturer,
                        product: u.product,
                    }),
                ),
                serialport::SerialPortType::PciPort => ("pci", None),
                serialport::SerialPortType::BluetoothPort => ("bluetooth", None),
                serialport::SerialPortType::Unknown => ("other", None),
            };
            FoundPort {
                path: p.port_name,
                kind,
                usb,
            }
        })
        .collect())
}

/// The list under `roots`, with the serial ports already enumerated.
pub fn list_in(roots: &Roots, ports: Vec<FoundPort>) -> DeviceList {
    let mut out = DeviceList {
        cameras: cameras(roots),
        usb_printers: usb_printers(roots),
        ..DeviceList::default()
    };
    let by_id = by_id_links(&roots.dev.join("serial/by-id"));
    let mut ports: Vec<FoundPort> = ports
        .into_iter()
        .filter(|p| !is_ghost_uart(roots, &p.path))
        .collect();
    ports.sort_by_key(|a| natural_key(&a.path));
    ports.dedup_by(|a, b| a.path == b.path);
    for p in ports {
        let stable = by_id
            .iter()
            .find(|(_, target)| same_file(target, Path::new(&p.path)))
            .map(|(link, _)| link.display().to_string());
        let configured = stable.clone().unwrap_or_else(|| p.path.clone());
        let usb = p.usb.unwrap_or_default();
        let is_usb = p.kind == "usb";
        out.serial_ports.push(SerialInfo {
            note: access_note(Path::new(&p.path), "dialout"),
            config_card_reader: format!("device = \"serial:{configured}?baud=9600\""),
            config_printer: format!("device = \"serial:{configured}?baud=19200\""),
            vendor_id: is_usb.then(|| format!("{:04x}", usb.vid)),
            product_id: is_usb.then(|| format!("{:04x}", usb.pid)),
            serial_number: usb.serial_number,
            manufacturer: usb.manufacturer,
            product: usb.product,
            by_id: stable,
            kind: p.kind,
            path: p.path,
        });
    }
    out
}

/// `ttyS0`..`ttyS31` exist on every PC whether or not a UART is behind
/// them; the kernel reports `type` 0 (`PORT_UNKNOWN`) for the empty ones.
fn is_ghost_uart(roots: &Roots, path: &str) -> bool {
    let Some(name) = Path::new(path).file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    if !name.starts_with("ttyS") {
        return false;
    }
    read_attr(&roots.sys.join("class/tty").join(name).join("type")).as_deref() == Some("0")
}

fn cameras(roots: &Roots) -> Vec<CameraInfo> {
    let by_id = by_id_links(&roots.dev.join("v4l/by-id"));
    let mut nodes: Vec<String> = read_dir_names(&roots.dev)
        .into_iter()
        .filter(|n| n.strip_prefix("video").is_some_and(is_number))
        .collect();
    // A node the kernel knows but udev has not created is still worth naming.
    for n in read_dir_names(&roots.sys.join("class/video4linux")) {
        if n.strip_prefix("video").is_some_and(is_number) && !nodes.contains(&n) {
            nodes.push(n);
        }
    }
    nodes.sort_by_key(|n| natural_key(n));
    nodes
        .into_iter()
        .map(|n| {
            let path = roots.dev.join(&n);
            let name = read_attr(&roots.sys.join("class/video4linux").join(&n).join("name"));
            let capture = if path.exists() {
                query_capture(&path)
            } else {
                None
            };
            let note = if !path.exists() {
                Some("il nodo non esiste in /dev: udev non è attivo?".to_string())
            } else {
                access_note(&path, "video")
            };
            let stable = by_id
                .iter()
                .find(|(_, t)| same_file(t, &path))
                .map(|(l, _)| l.display().to_string());
            // The by-id name survives replugging into another port; the
            // camera driver resolves it to its /dev/videoN.
            let configured = stable.clone().unwrap_or_else(|| path.display().to_string());
            CameraInfo {
                config: (capture != Some(false)).then(|| format!("device = \"v4l:{configured}\"")),
                by_id: stable,
                path: path.display().to_string(),
                name,
                capture,
                note,
            }
        })
        .collect()
}

fn usb_printers(roots: &Roots) -> Vec<UsbPrinterInfo> {
    let mut names: Vec<String> = read_dir_names(&roots.dev.join("usb"))
        .into_iter()
        .filter(|n| n.strip_prefix("lp").is_some_and(is_number))
        .collect();
    names.sort_by_key(|n| natural_key(n));
    names
        .into_iter()
        .map(|n| {
            let path = roots.dev.join("usb").join(&n);
            // `device` is the USB interface; its parent is the USB device.
            let iface = roots.sys.join("class/usbmisc").join(&n).join("device");
            let ieee = read_attr(&iface.join("ieee1284_id")).filter(|s| !s.is_empty());
            let fields = ieee.as_deref().map(parse_ieee1284).unwrap_or_default();
            let usb_dev = iface
                .canonicalize()
                .ok()
                .and_then(|p| p.parent().map(Path::to_path_buf));
            let usb_attr = |a: &str| usb_dev.as_ref().and_then(|d| read_attr(&d.join(a)));
            UsbPrinterInfo {
                config: format!("device = \"usb:{}\"", path.display()),
                note: access_note(&path, "lp"),
                manufacturer: fields.manufacturer.or_else(|| usb_attr("manufacturer")),
                model: fields.model.or_else(|| usb_attr("product")),
                vendor_id: usb_attr("idVendor"),
                product_id: usb_attr("idProduct"),
                serial_number: usb_attr("serial"),
                ieee1284_id: ieee,
                path: path.display().to_string(),
            }
        })
        .collect()
}

#[derive(Debug, Default, PartialEq)]
struct Ieee1284 {
    manufacturer: Option<String>,
    model: Option<String>,
}

/// `MFG:EPSON;CMD:ESC/POS;MDL:TM-T20II;CLS:PRINTER;` → EPSON, TM-T20II.
/// Printers use both the short and the long key names.
fn parse_ieee1284(id: &str) -> Ieee1284 {
    let mut out = Ieee1284::default();
    for field in id.split(';') {
        let Some((k, v)) = field.split_once(':') else {
            continue;
        };
        let v = v.trim();
        if v.is_empty() {
            continue;
        }
        match k.trim().to_ascii_uppercase().as_str() {
            "MFG" | "MANUFACTURER" => out.manufacturer = Some(v.to_string()),
            "MDL" | "MODEL" => out.model = Some(v.to_string()),
            _ => {}
        }
    }
    out
}

/// VIDIOC_QUERYCAP: is this node a video capture device?
pub(crate) fn query_capture(path: &Path) -> Option<bool> {
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::io::AsRawFd;
    // struct v4l2_capability: driver[16] card[32] bus_info[32] version
    // capabilities device_caps reserved[3]: 104 bytes.
    const VIDIOC_QUERYCAP: u64 = 0x8068_5600;
    const CAP_VIDEO_CAPTURE: u32 = 0x0000_0001;
    const CAP_VIDEO_CAPTURE_MPLANE: u32 = 0x0000_1000;
    const CAP_DEVICE_CAPS: u32 = 0x8000_0000;
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    let mut cap = [0u8; 104];
    // SAFETY: the buffer is exactly the size the request encodes, and the
    // descriptor is valid for the duration of the call.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), VIDIOC_QUERYCAP as _, cap.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    let word = |at: usize| u32::from_ne_bytes([cap[at], cap[at + 1], cap[at + 2], cap[at + 3]]);
    let capabilities = word(84);
    let device_caps = word(88);
    let caps = if capabilities & CAP_DEVICE_CAPS != 0 {
        device_caps
    } else {
        capabilities
    };
    Some(caps & (CAP_VIDEO_CAPTURE | CAP_VIDEO_CAPTURE_MPLANE) != 0)
}

/// Italian note when this user may not read and write `path`.
fn access_note(path: &Path, group: &str) -> Option<String> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: a valid NUL-terminated path; access() only reads it.
    let rc = unsafe { libc::access(c.as_ptr(), libc::R_OK | libc::W_OK) };
    (rc != 0 && path.exists()).then(|| {
        format!("questo utente non può aprirlo: serve il gruppo {group} (le regole udev del pacchetto lo assegnano)")
    })
}

/// `(link, target)` for each symlink in `dir`.
fn by_id_links(dir: &Path) -> Vec<(PathBuf, PathBuf)> {
    let mut out: Vec<(PathBuf, PathBuf)> = read_dir_names(dir)
        .into_iter()
        .filter_map(|n| {
            let link = dir.join(n);
            let target = link.canonicalize().ok()?;
            Some((link, target))
        })
        .collect();
    out.sort();
    out
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn read_dir_names(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn read_attr(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `video10` after `video2`: the trailing number compared as a number.
fn natural_key(s: &str) -> (String, u64) {
    let digits = s.len() - s.bytes().rev().take_while(u8::is_ascii_digit).count();
    let (head, tail) = s.split_at(digits);
    (head.to_string(), tail.parse().unwrap_or(0))
}

/// The list as the technician reads it, in Italian.
pub fn render_text(list: &DeviceList) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Fotocamere:");
    if list.cameras.is_empty() {
        let _ = writeln!(s, "  nessuna trovata");
    }
    for c in &list.cameras {
        let what = match c.capture {
            Some(true) => " [acquisizione video]",
            Some(false) => " [non acquisisce video: metadati, non usarlo]",
            None => "",
        };
        let _ = writeln!(
            s,
            "  {}  {}{what}",
            c.path,
            c.name.as_deref().unwrap_or("(nome sconosciuto)")
        );
        if let Some(b) = &c.by_id {
            let _ = writeln!(s, "      nome stabile: {b}");
        }
        if let Some(n) = &c.note {
            let _ = writeln!(s, "      attenzione: {n}");
        }
        if let Some(line) = &c.config {
            let _ = writeln!(s, "      [camera]       {line}");
        }
    }
    let _ = writeln!(s, "Porte seriali:");
    if list.serial_ports.is_empty() {
        let _ = writeln!(s, "  nessuna trovata");
    }
    for p in &list.serial_ports {
        let mut desc = match p.kind {
            "usb" => format!(
                "USB {}:{}",
                p.vendor_id.as_deref().unwrap_or("?"),
                p.product_id.as_deref().unwrap_or("?")
            ),
            "pci" => "scheda PCI".to_string(),
            "bluetooth" => "Bluetooth".to_string(),
            _ => "porta integrata".to_string(),
        };
        for part in [&p.manufacturer, &p.product].into_iter().flatten() {
            desc.push_str("  ");
            desc.push_str(part);
        }
        if let Some(sn) = &p.serial_number {
            let _ = write!(desc, "  s/n {sn}");
        }
        let _ = writeln!(s, "  {}  {desc}", p.path);
        if let Some(b) = &p.by_id {
            let _ = writeln!(s, "      nome stabile: {b}");
        }
        if let Some(n) = &p.note {
            let _ = writeln!(s, "      attenzione: {n}");
        }
        let _ = writeln!(s, "      [card_reader]  {}", p.config_card_reader);
        let _ = writeln!(s, "      [printer]      {}", p.config_printer);
    }
    let _ = writeln!(s, "Stampanti USB:");
    if list.usb_printers.is_empty() {
        let _ = writeln!(s, "  nessuna trovata");
    }
    for p in &list.usb_printers {
        let mut desc = [&p.manufacturer, &p.model]
            .into_iter()
            .flatten()
            .cloned()
            .collect::<Vec<_>>()
            .join(" ");
        if desc.is_empty() {
            desc = "(modello sconosciuto)".into();
        }
        if let (Some(v), Some(pr)) = (&p.vendor_id, &p.product_id) {
            let _ = write!(desc, "  USB {v}:{pr}");
        }
        let _ = writeln!(s, "  {}  {desc}", p.path);
        if let Some(n) = &p.note {
            let _ = writeln!(s, "      attenzione: {n}");
        }
        let _ = writeln!(s, "      [printer]      {}", p.config);
    }
    for w in &list.warnings {
        let _ = writeln!(s, "Avviso: {w}");
    }
    s
}

/// `pos-agent devices [--json]`: the listing, as text or JSON.
pub fn command(json: bool) -> anyhow::Result<std::process::ExitCode> {
    let list = list();
    if json {
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else {
        print!("{}", render_text(&list));
    }
    Ok(std::process::ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roots(dir: &Path) -> Roots {
        let r = Roots {
            sys: dir.join("sys"),
            dev: dir.join("dev"),
        };
        fs::create_dir_all(&r.sys).unwrap();
        fs::create_dir_all(&r.dev).unwrap();
        r
    }

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    #[test]
    fn an_empty_machine_lists_nothing_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let list = list_in(&roots(dir.path()), Vec::new());
        assert_eq!(list, DeviceList::default());
        let text = render_text(&list);
        assert_eq!(
            text,
            "Fotocamere:\n  nessuna trovata\nPorte seriali:\n  nessuna trovata\nStampanti USB:\n  nessuna trovata\n"
        );
    }

    #[test]
    fn cameras_are_named_from_sysfs_in_numeric_order() {
        let dir = tempfile::tempdir().unwrap();
        let r = roots(dir.path());
        for n in [10, 2, 0] {
            write(&r.dev.join(format!("video{n}")), "");
            write(
                &r.sys.join(format!("class/video4linux/video{n}/name")),
                &format!("Cam {n}\n"),
            );
        }
        write(&r.dev.join("videoX"), "");
        let list = list_in(&r, Vec::new());
        let paths: Vec<_> = list.cameras.iter().map(|c| c.path.clone()).collect();
        let dev = r.dev.display();
        assert_eq!(
            paths,
            [
                format!("{dev}/video0"),
                format!("{dev}/video2"),
                format!("{dev}/video10")
            ]
        );
        assert_eq!(list.cameras[0].name.as_deref(), Some("Cam 0"));
        // A regular file does not answer VIDIOC_QUERYCAP: unknown, still offered.
        assert_eq!(list.cameras[0].capture, None);
        assert_eq!(
            list.cameras[0].config.as_deref(),
            Some(format!("device = \"v4l:{dev}/video0\"").as_str())
        );
        let text = render_text(&list);
        assert!(text.contains("Cam 2"), "{text}");
        assert!(
            text.contains(&format!("[camera]       device = \"v4l:{dev}/video10\"")),
            "{text}"
        );
    }

    #[test]
    fn cameras_are_offered_by_their_stable_name() {
        let dir = tempfile::tempdir().unwrap();
        let r = roots(dir.path());
        write(&r.dev.join("video0"), "");
        fs::create_dir_all(r.dev.join("v4l/by-id")).unwrap();
        let link = r.dev.join("v4l/by-id/usb-046d_C920-video-index0");
        std::os::unix::fs::symlink(r.dev.join("video0"), &link).unwrap();
        let list = list_in(&r, Vec::new());
        assert_eq!(
            list.cameras[0].by_id.as_deref(),
            Some(link.to_str().unwrap())
        );
        assert_eq!(
            list.cameras[0].config.as_deref(),
            Some(format!("device = \"v4l:{}\"", link.display()).as_str())
        );
    }

    #[test]
    fn usb_printers_read_the_ieee1284_id_and_usb_ids() {
        let dir = tempfile::tempdir().unwrap();
        let r = roots(dir.path());
        write(&r.dev.join("usb/lp0"), "");
        write(&r.dev.join("usb/hiddev0"), "");
        // sysfs: class/usbmisc/lp0/device -> the interface, inside the USB device.
        let usb_dev = r.sys.join("devices/pci0000:00/usb1/1-2");
        let iface = usb_dev.join("1-2:1.0");
        write(
            &iface.join("ieee1284_id"),
            "MANUFACTURER:EPSON;CMD:ESC/POS;MDL:TM-T20II;CLS:PRINTER;\n",
        );
        write(&usb_dev.join("idVendor"), "04b8\n");
        write(&usb_dev.join("idProduct"), "0e15\n");
        write(&usb_dev.join("serial"), "X4ZK012345\n");
        fs::create_dir_all(r.sys.join("class/usbmisc/lp0")).unwrap();
        std::os::unix::fs::symlink(&iface, r.sys.join("class/usbmisc/lp0/device")).unwrap();

        let list = list_in(&r, Vec::new());
        assert_eq!(list.usb_printers.len(), 1, "{list:?}");
        let p = &list.usb_printers[0];
        assert_eq!(p.manufacturer.as_deref(), Some("EPSON"));
        assert_eq!(p.model.as_deref(), Some("TM-T20II"));
        assert_eq!(p.vendor_id.as_deref(), Some("04b8"));
        assert_eq!(p.product_id.as_deref(), Some("0e15"));
        assert_eq!(p.serial_number.as_deref(), Some("X4ZK012345"));
        assert_eq!(
            p.config,
            format!("device = \"usb:{}/usb/lp0\"", r.dev.display())
        );
        let text = render_text(&list);
        assert!(text.contains("EPSON TM-T20II  USB 04b8:0e15"), "{text}");
    }

    #[test]
    fn serial_ports_prefer_the_stable_by_id_name() {
        let dir = tempfile::tempdir().unwrap();
        let r = roots(dir.path());
        let acm = r.dev.join("ttyACM0");
        write(&acm, "");
        write(&r.dev.join("ttyS0"), "");
        write(&r.dev.join("ttyS1"), "");
        write(&r.sys.join("class/tty/ttyS0/type"), "4\n");
        write(&r.sys.join("class/tty/ttyS1/type"), "0\n");
        fs::create_dir_all(r.dev.join("serial/by-id")).unwrap();
        let link = r.dev.join("serial/by-id/usb-ACME_Reader_123-if00");
        std::os::unix::fs::symlink(&acm, &link).unwrap();
        let found = vec![
            FoundPort {
                path: r.dev.join("ttyS1").display().to_string(),
                kind: "other",
                usb: None,
            },
            FoundPort {
                path: acm.display().to_string(),
                kind: "usb",
                usb: Some(UsbIds {
                    vid: 0x0c27,
                    pid: 0x3bfa,
                    serial_number: Some("123".into()),
                    manufacturer: Some("ACME".into()),
                    product: Some("Reader".into()),
                }),
            },
            FoundPort {
                path: r.dev.join("ttyS0").display().to_string(),
                kind: "other",
                usb: None,
            },
        ];
        let list = list_in(&r, found);
        // ttyS1 has no UART behind it (type 0): not listed.
        let paths: Vec<_> = list.serial_ports.iter().map(|p| p.path.clone()).collect();
        assert_eq!(
            paths,
            [
                acm.display().to_string(),
                r.dev.join("ttyS0").display().to_string()
            ]
        );
        let p = &list.serial_ports[0];
        assert_eq!(p.vendor_id.as_deref(), Some("0c27"));
        assert_eq!(p.product_id.as_deref(), Some("3bfa"));
        assert_eq!(
            p.by_id.as_deref(),
            Some(link.display().to_string().as_str())
        );
        assert_eq!(
            p.config_card_reader,
            format!("device = \"serial:{}?baud=9600\"", link.display())
        );
        // The suggested lines parse as the config expects them.
        let line = p
            .config_card_reader
            .trim_start_matches("device = \"")
            .trim_end_matches('"');
        assert!(line.parse::<pos_config::CardReaderDevice>().is_ok());
        let line = p
            .config_printer
            .trim_start_matches("device = \"")
            .trim_end_matches('"');
        assert!(line.parse::<pos_config::PrinterDevice>().is_ok());
        let ttys0 = &list.serial_ports[1];
        assert_eq!(ttys0.vendor_id, None);
        let text = render_text(&list);
        assert!(
            text.contains("USB 0c27:3bfa  ACME  Reader  s/n 123"),
            "{text}"
        );
        assert!(text.contains("porta integrata"), "{text}");
    }

    #[test]
    fn ieee1284_ids_in_short_and_long_form() {
        assert_eq!(
            parse_ieee1284("MFG:Star;MDL:TSP100;"),
            Ieee1284 {
                manufacturer: Some("Star".into()),
                model: Some("TSP100".into())
            }
        );
        assert_eq!(parse_ieee1284("garbage"), Ieee1284::default());
    }

    #[test]
    fn natural_order_of_device_names() {
        let mut v = vec!["video10", "video2", "video0"];
        v.sort_by_key(|n| natural_key(n));
        assert_eq!(v, ["video0", "video2", "video10"]);
    }
}
