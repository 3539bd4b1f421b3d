//! `keyward tls self-signed`: writes a development CA and a server certificate it signed
//! ([`keyward_server::dev_cert`]) for `keyward serve --tls-cert DIR/cert.pem --tls-key
//! DIR/key.pem` and for clients that trust `DIR/ca.pem`. Not for production.

use std::path::{Path, PathBuf};

/// `keyward tls ...`
#[derive(clap::Subcommand)]
pub enum TlsCommand {
    /// Write DIR/ca.pem, DIR/cert.pem and DIR/key.pem (0600) for development.
    SelfSigned(SelfSignedArgs),
}

/// Arguments of `keyward tls self-signed`.
#[derive(clap::Args)]
pub struct SelfSignedArgs {
    /// Directory to write into (created if missing; existing files are not overwritten).
    #[arg(long)]
    out: PathBuf,
    /// Names and addresses the certificate is valid for (repeatable); `localhost`, `127.0.0.1`
    /// and `::1` are always included.
    #[arg(long = "hostname")]
    hostnames: Vec<String>,
}

/// Runs a `keyward tls` command.
pub fn run(command: TlsCommand) -> Result<(), String> {
    match command {
        TlsCommand::SelfSigned(args) => self_signed(&args),
    }
}

const FILES: [&str; 3] = ["ca.pem", "cert.pem", "key.pem"];

fn self_signed(args: &SelfSignedArgs) -> Result<(), String> {
    for name in FILES {
        let path = args.out.join(name);
        if path.exists() {
            return Err(format!(
                "{} exists; remove it or choose another --out",
                path.display()
            ));
        }
    }
    let certs = keyward_server::dev_cert::generate(&args.hostnames)?;
    std::fs::create_dir_all(&args.out)
        .map_err(|e| format!("cannot create {}: {e}", args.out.display()))?;
    write(&args.out.join("ca.pem"), certs.ca_pem.as_bytes(), 0o644)?;
    write(&args.out.join("cert.pem"), certs.cert_pem.as_bytes(), 0o644)?;
    write(&args.out.join("key.pem"), certs.key_pem.as_bytes(), 0o600)?;
    println!(
        "Wrote {dir}/ca.pem, {dir}/cert.pem and {dir}/key.pem (valid 90 days for {names}).",
        dir = args.out.display(),
        names = certs.names.join(", ")
    );
    println!(
        "Serve with: keyward serve --tls-cert {dir}/cert.pem --tls-key {dir}/key.pem",
        dir = args.out.display()
    );
    println!(
        "Clients trust {}/ca.pem (curl --cacert, NODE_EXTRA_CA_CERTS, REQUESTS_CA_BUNDLE).",
        args.out.display()
    );
    Ok(())
}

/// Creates `path` with `mode` (never replacing a file) and writes `bytes`.
fn write(path: &Path, bytes: &[u8], mode: u32) -> Result<(), String> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}
