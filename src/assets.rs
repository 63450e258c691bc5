//! `zkppd generate-assets DIR`: the man pages (one per command, from the
//! same clap definitions as `--help`, so they never drift) and the bash,
//! zsh and fish completions, for the .deb and other packagers.

use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;
use zkppd::config::Cli;

/// Writes `DIR/man/*.1` and `DIR/completions/{zkppd.bash,_zkppd,zkppd.fish}`.
pub fn generate(dir: &Path) -> Result<(), String> {
    let man = dir.join("man");
    let completions = dir.join("completions");
    for d in [&man, &completions] {
        std::fs::create_dir_all(d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
    }
    clap_mangen::generate_to(Cli::command(), &man)
        .map_err(|e| format!("cannot write man pages to {}: {e}", man.display()))?;
    // clap_mangen leaves the environment variables out; the pages that
    // describe the server get them (systemd's EnvironmentFile= uses them).
    let section = environment_section();
    for page in ["zkppd.1", "zkppd-serve.1"] {
        let path = man.join(page);
        let mut text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        text.push_str(&section);
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, &mut Cli::command(), "zkppd", &completions).map_err(
            |e| {
                format!(
                    "cannot write {shell} completions to {}: {e}",
                    completions.display()
                )
            },
        )?;
    }
    Ok(())
}

/// `.SH ENVIRONMENT`: each server flag's variable, in roff.
fn environment_section() -> String {
    let cmd = Cli::command();
    let mut out = String::from(
        ".SH ENVIRONMENT\nEvery server flag can also be set by an environment variable (a flag given on the command line wins):\n",
    );
    for arg in cmd.get_arguments() {
        let (Some(env), Some(long)) = (arg.get_env(), arg.get_long()) else {
            continue;
        };
        out.push_str(&format!(
            ".TP\n\\fB{}\\fR\nas \\fB\\-\\-{}\\fR\n",
            env.to_string_lossy(),
            long.replace('-', "\\-")
        ));
    }
    out.push_str(
        ".SH FILES\n.TP\n\\fI/etc/zkppd/zkppd.env\\fR\nsettings of the packaged systemd service (ZKPPD_* variables)\n.TP\n\\fI/etc/zkppd/admin-token\\fR\nthe admin bearer token, root only, handed to the service with LoadCredential=\n.TP\n\\fI/var/lib/zkppd/zkppd.db\\fR\nthe database of the packaged service\n",
    );
    out
}
