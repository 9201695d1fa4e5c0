//! Uses the crate only through its public API, the way `pos-agent` will.

use std::net::SocketAddr;
use std::path::PathBuf;

use pos_config::{
    ApiConfig, BackendConfig, CameraConfig, CameraDevice, CardReaderDevice, Config, ConfigError,
    DrawerConfig, DrawerKick, EuroMode, PaperWidth, PrinterConfig, PrinterDevice, EXAMPLE,
};

/// What `pos-agent sandbox` is expected to do: start from the defaults,
/// point everything at a temp dir and a mock backend, validate, write.
#[test]
fn a_sandbox_config_built_in_code_validates_writes_and_loads() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        data_dir: dir.path().join("data"),
        backend: BackendConfig {
            url: "http://127.0.0.1:18787".into(),
            ..BackendConfig::default()
        },
        api: ApiConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        },
        printer: PrinterConfig {
            device: PrinterDevice::File {
                path: dir.path().join("receipts.bin"),
            },
            paper_width_mm: PaperWidth::Mm58,
            euro: EuroMode::Eur,
            ..PrinterConfig::default()
        },
        camera: CameraConfig {
            device: CameraDevice::Dir {
                path: dir.path().join("frames"),
            },
            ..CameraConfig::default()
        },
        drawer: DrawerConfig {
            kick: DrawerKick::None,
        },
        ..Config::default()
    };
    config.validate().expect("valid");
    assert!(config.api_is_loopback());
    assert!(config.warnings().is_empty());

    let path = dir.path().join("config.toml");
    std::fs::write(&path, config.to_toml()).unwrap();
    assert_eq!(Config::load(&path), Ok(config.clone()));
    assert_eq!(pos_config::config_path(Some(&path)), path);
    assert_eq!(config.card_reader.device, CardReaderDevice::None);
}

/// What `pos-agent config init` + `config check` do.
#[test]
fn config_init_then_check() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, EXAMPLE).unwrap();
    let config = Config::load(&path).expect("the example is valid");
    assert_eq!(config.printer.paper_width_mm.columns(), 48);

    // A technician's typo is reported with the file and the key.
    std::fs::write(
        &path,
        EXAMPLE.replace("paper_width_mm = 80", "paper_widht_mm = 80"),
    )
    .unwrap();
    let err = Config::load(&path).unwrap_err();
    assert_eq!(err.key(), Some("printer.paper_widht_mm"));
    assert!(err.to_string().starts_with(&path.display().to_string()));
    assert!(matches!(err, ConfigError::UnknownKey { .. }));
}

#[test]
fn the_default_path_is_the_spec_one() {
    assert_eq!(
        pos_config::DEFAULT_CONFIG_PATH,
        "/etc/pos-agent/config.toml"
    );
    assert_eq!(pos_config::CONFIG_ENV, "POS_AGENT_CONFIG");
    let explicit = PathBuf::from("/srv/x.toml");
    assert_eq!(pos_config::config_path(Some(&explicit)), explicit);
}
