//! `pecora`: the command line of the pecora PEC provider.
//!
//! For now it reads and writes the wire format: `verify` checks PEC messages (kind, headers,
//! daticert, signature), `sample` writes a signed example of every kind.

mod sample;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "pecora",
    version,
    about = "An open-source PEC (Posta Elettronica Certificata) provider"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Read PEC messages and check them: kind, PEC headers, daticert.xml, signature.
    ///
    /// Exit status: 0 when every file was read and every signature is valid (and, with --ca,
    /// its chain trusted); 1 otherwise; 2 on usage errors.
    Verify {
        /// Messages to check (.eml, CRLF or LF line ends).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// CA certificates (PEM) the signer's chain must lead to; may be repeated.
        #[arg(long = "ca", value_name = "PEM")]
        ca: Vec<PathBuf>,
        /// One JSON object per file, one per line.
        #[arg(long)]
        json: bool,
    },
    /// Write one signed example of every PEC message kind, plus ca.pem.
    ///
    /// Without --cert/--key/--ca a throwaway test CA and provider certificate are created
    /// (and written next to the examples).
    Sample {
        /// Output directory (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Provider signing certificate (PEM); its e-mail is the provider's address.
        #[arg(long, requires_all = ["key", "ca"])]
        cert: Option<PathBuf>,
        /// The certificate's private key (PEM).
        #[arg(long, requires_all = ["cert", "ca"])]
        key: Option<PathBuf>,
        /// The CA certificate(s) (PEM) that issued --cert.
        #[arg(long, requires_all = ["cert", "key"])]
        ca: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Verify { files, ca, json } => verify::run(&files, &ca, json),
        Command::Sample { out, cert, key, ca } => sample::run(&out, cert.zip(key).zip(ca)),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pecora: {e:#}");
            ExitCode::from(2)
        }
    }
}
