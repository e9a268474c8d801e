//! `cargo xtask test --packages`: the Linux packages as a user meets them.
//!
//! The `.deb` is installed with apt into a fresh Debian root made by debootstrap, so every
//! library the app needs must come from Debian through the package's `Depends`. The installed app
//! is started from its installed path as an ordinary user of that root and must show its window on
//! a private X server; the desktop entry and icons must be where desktops look for them; and
//! `dpkg -r` must remove the app while leaving the user's settings, list and results exactly as
//! they were. The `.rpm` and the `.deb` are also read for their name, version, dependencies and
//! files.
//!
//! The root is a chroot on a tmpfs, with the host's `/proc`, `/sys`, `/dev`, `/dev/pts`, `/dev/shm`
//! and the X socket folder bind-mounted into it; a guard unmounts them all on every way out,
//! errors included (which also discards the root), and a root left mounted by a run that was
//! killed is unmounted before anything is deleted. The pristine root is kept as a tarball under
//! `target/tools/debian-root`, so only the first run bootstraps; every run unpacks a fresh copy
//! of it and refreshes its index with `apt-get update`. Downloaded `.deb` files are kept beside it
//! and lent to each root's apt, which still checks them against the index it has just fetched.
//! The app's own output, apt's and the window's picture are kept in `target/packages`.

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};

use crate::bundle::{self, Packages};
use crate::{system, target_dir};

// The private X server: the test kit's own, compiled here from its file because the automation
// cannot take the test kit (and the AWS SDK, hyper and the local stack behind it) as a dependency.
#[path = "../../crates/ddn-testkit/src/display.rs"]
mod display;
use display::Display;

/// Debian packages this test needs on the host: debootstrap to make the root, rpm to read the
/// `.rpm`, an X server without a screen, xdotool to find the window, ImageMagick to photograph it
/// and check the picture and the icons, and desktop-file-validate.
pub const HOST_PACKAGES: &[&str] = &[
    "debootstrap",
    "rpm",
    "xvfb",
    "xdotool",
    "imagemagick",
    "desktop-file-utils",
];

/// The Debian release the root is made of: the oldest one the packages are promised to run on.
const SUITE: &str = "bookworm";
const MIRROR: &str = "http://deb.debian.org/debian";
const SECURITY_MIRROR: &str = "http://deb.debian.org/debian-security";

/// What the `.deb` must depend on: the web view and its toolkit, and the CA certificates the
/// app's HTTPS client trusts (read from the system; without them the app cannot start).
const DEB_DEPENDS: &[&str] = &["libwebkit2gtk-4.1-0", "libgtk-3-0", "ca-certificates"];

/// The package and binary name, the same in both formats.
const PACKAGE: &str = "ddn-transfer";
/// The window title the app opens with.
const WINDOW_TITLE: &str = "DDN Transfer";
/// The ordinary user of the root that runs the app and owns the user data.
const USER: &str = "ddn";

/// How long the installed app may take to show its window, and then to paint it.
const WINDOW_LIMIT: Duration = Duration::from_secs(90);
/// How long one look at the display may take.
const STEP_LIMIT: Duration = Duration::from_secs(20);
/// A painted page has anti-aliased text and an icon, so many colours; a blank window has one.
const MIN_COLOURS: u64 = 32;

/// Checks both packages; see the module documentation.
///
/// # Errors
/// Fails at once when a step the rest depends on fails (making the root, apt, the user), else
/// at the end with every check that did not hold, each naming what was expected and found.
pub fn test(root: &Path, packages: &Packages) -> Result<()> {
    system::ensure_packages(HOST_PACKAGES)?;
    ensure!(
        is_root(),
        "the package test makes a Debian root with debootstrap and chroot: run it as root"
    );
    let version = bundle::workspace_version(root)?;
    let out = target_dir(root).join("packages");
    std::fs::create_dir_all(&out)?;
    let mut times = Timings::default();

    // Checks whose failure leaves the rest worth running are recorded and reported together at
    // the end, so one run shows every problem of a package.
    let deb = times.check("read the .deb's control fields", || {
        check_deb_fields(&packages.deb, &version)
    });
    times.check("read the .rpm's header and files", || {
        check_rpm(&packages.rpm, &version)
    });

    let debian = out.join("debian-root");
    let cache = target_dir(root).join("tools").join("debian-root");
    let cached = cache.join(format!("{SUITE}-minbase-{}.tar.gz", host_architecture()?));
    let label = if cached.exists() {
        "unpack a fresh Debian root (cached)"
    } else {
        "bootstrap a fresh Debian root (debootstrap, then cached)"
    };
    // Declared before the mounts, so it is dropped after them.
    let display = Display::start()?;
    let mut mounts = times.step(label, || {
        remove_root(&debian)?;
        std::fs::create_dir_all(&debian)?;
        let mut mounts = Mounts::new(&debian);
        // In memory, the root's thousands of small files are written, synced and discarded at
        // once; on this disk deleting one root took a minute.
        mounts.tmpfs()?;
        fresh_root(&debian, &cached)?;
        Ok(mounts)
    })?;
    mounts.bind_system()?;
    mounts.bind(Path::new("/tmp/.X11-unix"))?;
    let archives = cache.join("apt-archives");
    std::fs::create_dir_all(archives.join("partial"))?;
    mounts.bind_at(&archives, Path::new("/var/cache/apt/archives"))?;

    let apt_log = out.join("apt.log");
    std::fs::write(&apt_log, "")?;
    times.step("apt-get update", || {
        point_apt_at_debian(&debian)?;
        let mut update = in_root(&debian);
        update.args(["apt-get", "update", "-q"]);
        run_logged(update, "apt-get update", &apt_log)
    })?;
    let before = installed_packages(&debian)?;
    times.step("apt-get install ./ddn-transfer.deb", || {
        let copy = format!("tmp/{PACKAGE}_{version}.deb");
        std::fs::copy(&packages.deb, debian.join(&copy))?;
        // Recommends are left out so the package's own Depends must be enough to start the app.
        let mut install = in_root(&debian);
        install
            .args(["apt-get", "install", "-y", "-q", "--no-install-recommends"])
            .arg(format!("/{copy}"));
        run_logged(install, "apt-get install", &apt_log)
    })?;
    let pulled = installed_packages(&debian)?.saturating_sub(before + 1);
    println!(
        "    {pulled} dependencies came from Debian (see {})",
        apt_log.display()
    );

    let installed = times.step("the installed files", || installed_files(&debian))?;
    times.check("desktop entry and icons", || {
        check_desktop_entry(&debian, &installed)
    });

    let home = times.step("create a user and their data", || {
        create_user_with_data(&debian)
    })?;
    let screenshot = out.join("installed-window.png");
    let _ = std::fs::remove_file(&screenshot);
    times.check("start the installed app and photograph its window", || {
        show_window(
            &debian,
            &display,
            &version,
            &home,
            &out.join("app.log"),
            &screenshot,
        )
    });

    times.step("dpkg -r keeps the user's data", || {
        remove_package(&debian, &home, &installed)
    })?;
    drop(mounts);
    drop(display);

    println!("==> package test summary");
    if let Some(deb) = deb {
        println!(
            "    .deb {} {}, installed size {} KiB, {pulled} dependencies pulled from Debian",
            deb.package, deb.version, deb.installed_size_kib
        );
    }
    println!("    window: {}", screenshot.display());
    times.finish()
}

/// Step names, how long each took and the checks that failed, printed at the end.
#[derive(Default)]
struct Timings {
    steps: Vec<(String, Duration, bool)>,
    failures: Vec<String>,
}

impl Timings {
    /// A step the rest depends on: its failure ends the test.
    fn step<T>(&mut self, name: &str, work: impl FnOnce() -> Result<T>) -> Result<T> {
        match self.timed(name, work) {
            Ok(value) => Ok(value),
            Err(error) => {
                self.print();
                Err(error.context(format!("package test: {name}")))
            }
        }
    }

    /// A check the rest does not depend on: its failure is reported by [`Self::finish`].
    fn check<T>(&mut self, name: &str, work: impl FnOnce() -> Result<T>) -> Option<T> {
        match self.timed(name, work) {
            Ok(value) => Some(value),
            Err(error) => {
                println!("    FAILED: {error:#}");
                self.failures.push(format!("{name}: {error:#}"));
                None
            }
        }
    }

    fn timed<T>(&mut self, name: &str, work: impl FnOnce() -> Result<T>) -> Result<T> {
        println!("==> {name}");
        let started = Instant::now();
        let result = work();
        let took = started.elapsed();
        let verdict = if result.is_ok() { "ok" } else { "FAILED" };
        println!("==> {name}: {verdict} in {:.1} s", took.as_secs_f64());
        self.steps.push((name.to_owned(), took, result.is_ok()));
        result
    }

    fn print(&self) {
        let mut total = Duration::ZERO;
        for (name, took, ok) in &self.steps {
            let verdict = if *ok { "" } else { "  FAILED" };
            println!("    {:>6.1} s  {name}{verdict}", took.as_secs_f64());
            total += *took;
        }
        println!("    {:>6.1} s  in all", total.as_secs_f64());
    }

    /// Prints the times and fails with every failed check.
    fn finish(self) -> Result<()> {
        self.print();
        if self.failures.is_empty() {
            return Ok(());
        }
        bail!(
            "{} package check(s) failed:\n  - {}",
            self.failures.len(),
            self.failures.join("\n  - ")
        )
    }
}

/// What the `.deb`'s control file says.
#[derive(Debug)]
struct DebFields {
    package: String,
    version: String,
    installed_size_kib: u64,
}

fn check_deb_fields(deb: &Path, version: &str) -> Result<DebFields> {
    let mut info = Command::new("dpkg-deb");
    info.arg("-f").arg(deb);
    let fields = control_fields(&output(info, "dpkg-deb -f")?);
    let field = |name: &str| {
        fields
            .get(name)
            .cloned()
            .with_context(|| format!("the .deb has no {name} field"))
    };
    let package = field("Package")?;
    ensure!(
        package == PACKAGE,
        "the .deb is named {package:?}, not {PACKAGE:?}"
    );
    let deb_version = field("Version")?;
    ensure!(
        deb_version == version,
        "the .deb's version is {deb_version}, the workspace's {version}"
    );
    let depends = dependency_names(&field("Depends")?);
    for needed in DEB_DEPENDS {
        ensure!(
            depends.iter().any(|name| name == needed),
            "the .deb does not depend on {needed}: Depends names {depends:?}"
        );
    }
    let installed_size_kib = field("Installed-Size")?
        .parse()
        .context("the .deb's Installed-Size is not a number")?;
    println!(
        "    {package} {deb_version}, installed size {installed_size_kib} KiB, depends on {}",
        depends.join(", ")
    );
    Ok(DebFields {
        package,
        version: deb_version,
        installed_size_kib,
    })
}

/// The fields of a Debian control paragraph; continuation lines join their field's value.
fn control_fields(text: &str) -> BTreeMap<String, String> {
    let mut fields = BTreeMap::new();
    let mut last: Option<String> = None;
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(value) = last.as_ref().and_then(|name| fields.get_mut(name)) {
                let value: &mut String = value;
                value.push('\n');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            fields.insert(name.trim().to_owned(), value.trim().to_owned());
            last = Some(name.trim().to_owned());
        }
    }
    fields
}

/// The package names a `Depends` field names, alternatives included, without versions or
/// architecture qualifiers.
fn dependency_names(depends: &str) -> Vec<String> {
    depends
        .split([',', '|'])
        .filter_map(|entry| {
            let name = entry
                .split(['(', '[', ' ', '\n'])
                .find(|part| !part.is_empty())?;
            Some(name.split(':').next().unwrap_or(name).to_owned())
        })
        .collect()
}

fn check_rpm(rpm: &Path, version: &str) -> Result<()> {
    let mut info = Command::new("rpm");
    info.arg("-qip").arg(rpm);
    let info = output(info, "rpm -qip")?;
    for line in info.lines().filter(|line| {
        ["Name", "Version", "Release", "Architecture", "Size"]
            .iter()
            .any(|field| line.starts_with(field))
    }) {
        println!("    {line}");
    }

    let mut header = Command::new("rpm");
    header
        .args(["-qp", "--queryformat", "%{NAME}\n%{VERSION}\n"])
        .arg(rpm);
    let header = output(header, "rpm -qp --queryformat")?;
    let mut lines = header.lines();
    let name = lines.next().unwrap_or_default();
    ensure!(
        name == PACKAGE,
        "the .rpm is named {name:?}, not {PACKAGE:?}"
    );
    let rpm_version = lines.next().unwrap_or_default();
    ensure!(
        rpm_version == version,
        "the .rpm's version is {rpm_version}, the workspace's {version}"
    );

    let mut requires = Command::new("rpm");
    requires.args(["-qp", "--requires"]).arg(rpm);
    let requires = output(requires, "rpm -qp --requires")?;
    // By package name (webkit2gtk4.1) or by library (libwebkit2gtk-4.1.so.0()(64bit)).
    for needed in ["webkit2gtk", "gtk-3", "ca-certificates"] {
        ensure!(
            requires.lines().any(|line| line.contains(needed)),
            "the .rpm does not require {needed}; it requires: {}",
            requires.lines().collect::<Vec<_>>().join(", ")
        );
    }
    println!(
        "    requires: {}",
        requires.lines().collect::<Vec<_>>().join(", ")
    );

    let mut list = Command::new("rpm");
    list.arg("-qlp").arg(rpm);
    let files: Vec<String> = output(list, "rpm -qlp")?
        .lines()
        .map(str::to_owned)
        .collect();
    let binary = format!("/usr/bin/{PACKAGE}");
    ensure!(
        files.contains(&binary),
        "the .rpm does not hold {binary}: {files:?}"
    );
    ensure!(
        files.iter().any(|file| is_desktop_entry(file)),
        "the .rpm holds no desktop entry: {files:?}"
    );
    ensure!(
        files.iter().any(|file| icon_size(file).is_some()),
        "the .rpm holds no icon under /usr/share/icons/hicolor: {files:?}"
    );
    println!(
        "    {} files, binary, desktop entry and icons among them",
        files.len()
    );
    Ok(())
}

fn is_desktop_entry(path: &str) -> bool {
    path.starts_with("/usr/share/applications/") && path.ends_with(".desktop")
}

/// The pixel size an icon's path promises, for `/usr/share/icons/hicolor/<N>x<N>[@S]/apps/*.png`
/// (the scale `S` doubles or triples the pixels).
fn icon_size(path: &str) -> Option<u32> {
    let rest = path.strip_prefix("/usr/share/icons/hicolor/")?;
    let (size, file) = rest.split_once("/apps/")?;
    if file.contains('/') || !file.ends_with(".png") {
        return None;
    }
    let (size, scale) = match size.split_once('@') {
        Some((size, scale)) => (size, scale.trim_end_matches('x').parse::<u32>().ok()?),
        None => (size, 1),
    };
    let (width, height) = size.split_once('x')?;
    let width: u32 = width.parse().ok()?;
    (height.parse::<u32>().ok()? == width).then_some(width * scale)
}

/// `<size>/apps` of an icon's path under the hicolor theme.
fn icon_folder(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/usr/share/icons/hicolor/")?;
    rest.rfind('/').map(|end| &rest[..end])
}

/// The folders the hicolor theme's `index.theme` declares (`Directories` and
/// `ScaledDirectories`): icon lookups read only those. The root's own copy comes with GTK.
fn hicolor_folders(dir: &Path) -> Result<Vec<String>> {
    let index = dir.join("usr/share/icons/hicolor/index.theme");
    let text = std::fs::read_to_string(&index)
        .with_context(|| format!("reading {} (from hicolor-icon-theme)", index.display()))?;
    Ok(theme_folders(&text))
}

fn theme_folders(index: &str) -> Vec<String> {
    index
        .lines()
        .filter_map(|line| {
            line.strip_prefix("Directories=")
                .or_else(|| line.strip_prefix("ScaledDirectories="))
        })
        .flat_map(|list| list.split(','))
        .map(|folder| folder.trim().to_owned())
        .filter(|folder| !folder.is_empty())
        .collect()
}

/// The architecture debootstrap makes the root for (the host's).
fn host_architecture() -> Result<String> {
    let mut arch = Command::new("dpkg");
    arch.arg("--print-architecture");
    Ok(output(arch, "dpkg --print-architecture")?.trim().to_owned())
}

/// Fills the empty `dir` with a pristine Debian root: unpacked from `cached`, or bootstrapped and
/// then cached when there is no tarball yet.
fn fresh_root(dir: &Path, cached: &Path) -> Result<()> {
    if cached.exists() {
        let mut unpack = Command::new("tar");
        unpack
            .args(["--numeric-owner", "-xzf"])
            .arg(cached)
            .arg("-C")
            .arg(dir);
        return run(unpack, "unpacking the cached root");
    }
    let mut bootstrap = Command::new("debootstrap");
    bootstrap
        .args(["--variant=minbase", SUITE])
        .arg(dir)
        .arg(MIRROR)
        .stdout(Stdio::null());
    let bootstrapped = run(bootstrap, "debootstrap");
    // debootstrap mounts /proc in the root while it works and may leave it there if it fails;
    // the root's own file system stays.
    unmount_below(dir)?;
    bootstrapped?;
    // The root's own copies of what it installed are not needed: the tarball stays small.
    std::fs::remove_dir_all(dir.join("var/cache/apt/archives"))?;
    std::fs::create_dir_all(dir.join("var/cache/apt/archives/partial"))?;
    let parent = cached.parent().context("the cache has no folder")?;
    std::fs::create_dir_all(parent)?;
    let partial = cached.with_extension("partial");
    let mut pack = Command::new("tar");
    pack.args(["--numeric-owner", "-czf"])
        .arg(&partial)
        .arg("-C")
        .arg(dir)
        .arg(".");
    run(pack, "packing the root for the next run")?;
    std::fs::rename(&partial, cached)?;
    Ok(())
}

/// Deletes a root, first stopping what runs in it and unmounting what is mounted in it; refuses
/// to delete while anything is still mounted there, since that would delete the host's files.
fn remove_root(dir: &Path) -> Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    stop_processes_in(dir);
    // A root mounted again by a later killed run hides the earlier one: peel them off in turn.
    for _ in 0..4 {
        unmount_below(dir)?;
        if mounts_under(dir)?.is_empty() {
            break;
        }
        unmount(dir);
    }
    ensure!(
        mounts_under(dir)?.is_empty(),
        "could not unmount {}: unmount it by hand, then run again",
        dir.display()
    );
    std::fs::remove_dir_all(dir).with_context(|| format!("deleting {}", dir.display()))
}

/// Unmounts whatever is mounted inside `dir`, but not `dir` itself.
fn unmount_below(dir: &Path) -> Result<()> {
    let dir = dir.canonicalize()?;
    let mut points: Vec<PathBuf> = mounts_under(&dir)?
        .into_iter()
        .filter(|point| *point != dir)
        .collect();
    // Deepest first, so /dev/pts goes before /dev.
    points.sort_by_key(|point| std::cmp::Reverse(point.components().count()));
    for point in &points {
        unmount(point);
    }
    let left: Vec<PathBuf> = mounts_under(&dir)?
        .into_iter()
        .filter(|point| *point != dir)
        .collect();
    ensure!(
        left.is_empty(),
        "could not unmount {left:?}: unmount them by hand, then run again"
    );
    Ok(())
}

/// Mount points at or below `dir`, from the kernel's mount table.
fn mounts_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let dir = dir.canonicalize()?;
    let table = std::fs::read_to_string("/proc/self/mountinfo").context("reading mountinfo")?;
    Ok(table
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|point| PathBuf::from(unescape_mount_point(point)))
        .filter(|point| point.starts_with(&dir))
        .collect())
}

/// The kernel writes spaces, tabs, newlines and backslashes in mount points as octal escapes.
fn unescape_mount_point(point: &str) -> String {
    let mut out = String::with_capacity(point.len());
    let mut rest = point;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let code = rest.get(at + 1..at + 4);
        match code.and_then(|code| u8::from_str_radix(code, 8).ok()) {
            Some(byte) => {
                out.push(char::from(byte));
                rest = &rest[at + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn unmount(point: &Path) {
    let unmounted = Command::new("umount")
        .arg(point)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !unmounted {
        // Something still holds it: detach it now, the kernel finishes when it lets go.
        let _ = Command::new("umount").arg("--lazy").arg(point).status();
    }
}

/// Kills every process whose root is `dir`: only this test starts processes there.
fn stop_processes_in(dir: &Path) {
    let Ok(dir) = dir.canonicalize() else {
        return;
    };
    for _ in 0..50 {
        let inside = processes_in(&dir);
        if inside.is_empty() {
            return;
        }
        for pid in inside {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn processes_in(dir: &Path) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let root = std::fs::read_link(entry.path().join("root")).ok()?;
            root.starts_with(dir).then_some(pid)
        })
        .collect()
}

const MOUNT_NEEDS: &str = "the package test mounts file systems for its root: it needs root with \
                           CAP_SYS_ADMIN (in a container, a privileged one)";

/// The host folders bind-mounted into a root, unmounted (last first) when dropped.
struct Mounts {
    root: PathBuf,
    points: Vec<PathBuf>,
}

impl Mounts {
    fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
            points: Vec::new(),
        }
    }

    /// What apt, dpkg's scripts and a WebKit app expect of a running system.
    fn bind_system(&mut self) -> Result<()> {
        for folder in ["/proc", "/sys", "/dev", "/dev/pts", "/dev/shm"] {
            self.bind(Path::new(folder))?;
        }
        Ok(())
    }

    /// A file system in memory for the root itself, mounted first so it is unmounted last,
    /// which discards the whole root at once.
    fn tmpfs(&mut self) -> Result<()> {
        let mut mount = Command::new("mount");
        mount
            .args(["-t", "tmpfs", "-o", "size=6g,mode=755", "ddn-package-root"])
            .arg(&self.root);
        run(mount, "mounting a tmpfs for the root").context(MOUNT_NEEDS)?;
        self.points.push(self.root.clone());
        Ok(())
    }

    fn bind(&mut self, host: &Path) -> Result<()> {
        self.bind_at(host, host)
    }

    fn bind_at(&mut self, host: &Path, inside: &Path) -> Result<()> {
        let target = self.root.join(inside.strip_prefix("/")?);
        std::fs::create_dir_all(&target)?;
        let mut mount = Command::new("mount");
        mount.arg("--bind").arg(host).arg(&target);
        run(mount, &format!("bind-mounting {}", host.display())).context(MOUNT_NEEDS)?;
        self.points.push(target);
        Ok(())
    }
}

impl Drop for Mounts {
    fn drop(&mut self) {
        // A process left in the root would keep its mounts busy.
        stop_processes_in(&self.root);
        for point in self.points.iter().rev() {
            unmount(point);
        }
    }
}

/// Where a program is on the host's `PATH`: a command given the user's `PATH` would look there,
/// and an ordinary user's `PATH` lacks `/usr/sbin`, where the host keeps `chroot`.
fn host_program(name: &str) -> Result<PathBuf> {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|folder| folder.join(name))
                .find(|candidate| is_executable(candidate))
        })
        .with_context(|| format!("{name} is not on PATH"))
}

/// A command run as root inside the root, with a plain environment (its `PATH` finds `chroot`).
fn in_root(dir: &Path) -> Command {
    let mut command = Command::new("chroot");
    command
        .arg(dir)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("HOME", "/root")
        .env("LANG", "C.UTF-8")
        .env("DEBIAN_FRONTEND", "noninteractive");
    command
}

/// Gives the root the sources a Debian system has (the release, its updates, its security
/// fixes), and the host's name servers.
fn point_apt_at_debian(dir: &Path) -> Result<()> {
    std::fs::write(
        dir.join("etc/apt/sources.list"),
        format!(
            "deb {MIRROR} {SUITE} main\n\
             deb {MIRROR} {SUITE}-updates main\n\
             deb {SECURITY_MIRROR} {SUITE}-security main\n"
        ),
    )?;
    std::fs::copy("/etc/resolv.conf", dir.join("etc/resolv.conf"))
        .context("copying /etc/resolv.conf into the root")?;
    Ok(())
}

fn installed_packages(dir: &Path) -> Result<usize> {
    let mut list = in_root(dir);
    list.args(["dpkg-query", "-W", "-f=${binary:Package}\\n"]);
    Ok(output(list, "dpkg-query -W")?.lines().count())
}

/// The files the installed package owns (`dpkg -L`), which must all be outside users' homes.
fn installed_files(dir: &Path) -> Result<Vec<String>> {
    let mut list = in_root(dir);
    list.args(["dpkg", "-L", PACKAGE]);
    let files: Vec<String> = output(list, "dpkg -L")?
        .lines()
        .map(str::to_owned)
        .collect();
    let binary = format!("/usr/bin/{PACKAGE}");
    ensure!(
        files.contains(&binary),
        "dpkg -L does not list {binary}: {files:?}"
    );
    ensure!(
        is_executable(&dir.join(binary.trim_start_matches('/'))),
        "{binary} is not an executable file"
    );
    let in_homes: Vec<&String> = files
        .iter()
        .filter(|file| file.starts_with("/home") || file.starts_with("/root"))
        .collect();
    ensure!(
        in_homes.is_empty(),
        "the package owns files in users' homes: {in_homes:?}"
    );
    println!(
        "    {} paths, none under /home or /root, {binary} executable",
        files.len()
    );
    Ok(files)
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path)
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// The fields of a desktop entry's `[Desktop Entry]` group that desktops use to launch it.
#[derive(Debug, PartialEq)]
struct DesktopEntry {
    name: String,
    exec: String,
    icon: String,
}

impl DesktopEntry {
    fn parse(text: &str) -> Option<Self> {
        let mut in_group = false;
        let (mut name, mut exec, mut icon) = (None, None, None);
        for line in text.lines().map(str::trim) {
            if line.starts_with('[') {
                in_group = line == "[Desktop Entry]";
            } else if in_group && let Some((key, value)) = line.split_once('=') {
                let value = Some(value.trim().to_owned());
                match key.trim() {
                    "Name" => name = value,
                    "Exec" => exec = value,
                    "Icon" => icon = value,
                    _ => {}
                }
            }
        }
        Some(Self {
            name: name?,
            exec: exec?,
            icon: icon?,
        })
    }

    /// The program `Exec` starts, without its arguments and field codes (`%U`, `%f` ...).
    fn program(&self) -> &str {
        self.exec
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .trim_matches('"')
    }
}

/// Checks the one desktop entry: its name, that it starts the installed binary, that its icon is
/// installed in folders the hicolor theme declares at the sizes they promise, and that
/// `desktop-file-validate` has nothing to say.
fn check_desktop_entry(dir: &Path, files: &[String]) -> Result<()> {
    let entries: Vec<&String> = files.iter().filter(|file| is_desktop_entry(file)).collect();
    let [entry] = entries.as_slice() else {
        bail!("expected one desktop entry in /usr/share/applications, found {entries:?}");
    };
    let on_disk = dir.join(entry.trim_start_matches('/'));
    let parsed = DesktopEntry::parse(&std::fs::read_to_string(&on_disk)?)
        .with_context(|| format!("{entry} lacks Name, Exec or Icon"))?;
    ensure!(
        parsed.name == WINDOW_TITLE,
        "{entry} names the app {:?}",
        parsed.name
    );

    // Desktops look a bare program name up on PATH, which has /usr/bin.
    let program = parsed.program();
    let program = if program.starts_with('/') {
        program.to_owned()
    } else {
        format!("/usr/bin/{program}")
    };
    ensure!(
        files.contains(&program) && is_executable(&dir.join(program.trim_start_matches('/'))),
        "{entry} starts {:?}, which the package does not install",
        parsed.exec
    );

    ensure!(
        !parsed.icon.contains('/'),
        "{entry} names its icon by path ({}), which icon themes cannot scale",
        parsed.icon
    );
    let file_name = format!("/{}.png", parsed.icon);
    let icons: Vec<String> = files
        .iter()
        .filter(|file| icon_size(file).is_some() && file.ends_with(&file_name))
        .cloned()
        .collect();
    ensure!(
        !icons.is_empty(),
        "no icon {} under /usr/share/icons/hicolor/<size>/apps",
        parsed.icon
    );
    let theme = hicolor_folders(dir)?;
    let mut problems = Vec::new();
    for icon in &icons {
        let folder = icon_folder(icon).unwrap_or_default();
        if !theme.iter().any(|declared| declared == folder) {
            problems.push(format!(
                "{icon} is in {folder}, which the hicolor theme does not declare, so no desktop \
                 looks there"
            ));
        }
        let expected = icon_size(icon).unwrap_or_default();
        let mut identify = Command::new("identify");
        identify
            .args(["-format", "%w %h"])
            .arg(dir.join(icon.trim_start_matches('/')));
        let size = output(identify, "identify")?;
        if size.trim() != format!("{expected} {expected}") {
            problems.push(format!(
                "{icon} is {} pixels, where its folder promises {expected}x{expected}",
                size.trim().replace(' ', "x")
            ));
        }
    }

    let mut validate = Command::new("desktop-file-validate");
    validate.arg(&on_disk);
    let complaints = output(validate, "desktop-file-validate")?;
    if !complaints.trim().is_empty() {
        problems.push(format!("desktop-file-validate: {}", complaints.trim()));
    }
    println!(
        "    {entry}: Exec={} Icon={}; icons: {}",
        parsed.exec,
        parsed.icon,
        icons.join(", ")
    );
    ensure!(problems.is_empty(), "{}", problems.join("; "));
    Ok(())
}

/// The user data the app would have made for its user, in the places it keeps them.
const USER_DATA: &[(&str, &str)] = &[
    (
        ".config/com.ddn.transfer/settings.json",
        r#"{"apiUrl":"https://ddn.example.org","resultsDir":null,"language":"en"}"#,
    ),
    (
        ".local/share/com.ddn.transfer/transfers.json",
        r#"[{"id":"kept-1","name":"scan.tif","source":null,"size":6,"status":"ready","uploaded":true,"resultPath":"/home/ddn/Downloads/DDN Transfer/scan.tif","error":null}]"#,
    ),
    ("Downloads/DDN Transfer/scan.tif", "result"),
];

/// Creates the ordinary user and their data; answers their home inside the root.
fn create_user_with_data(dir: &Path) -> Result<String> {
    let mut add = in_root(dir);
    add.args(["useradd", "--create-home", "--shell", "/bin/sh", USER]);
    run(add, "useradd")?;
    let home = format!("/home/{USER}");
    for (path, content) in USER_DATA {
        let file = dir.join(home.trim_start_matches('/')).join(path);
        std::fs::create_dir_all(file.parent().context("a file without a folder")?)?;
        std::fs::write(&file, content)?;
    }
    // GTK and WebKit keep sockets and caches in the runtime folder, which must be the user's own.
    let runtime = dir.join("tmp").join(format!("runtime-{USER}"));
    std::fs::create_dir_all(&runtime)?;
    let mut own = in_root(dir);
    own.args(["chown", "-R", &format!("{USER}:{USER}"), &home])
        .arg(format!("/tmp/runtime-{USER}"));
    run(own, "chown")?;
    let mut private = in_root(dir);
    private.args(["chmod", "700", &format!("/tmp/runtime-{USER}")]);
    run(private, "chmod")?;
    println!(
        "    {USER} with {}; the token's keyring entry cannot be made: the root has no \
         Secret Service, and dpkg never touches a user's keyring or home anyway",
        USER_DATA
            .iter()
            .map(|(path, _)| format!("~/{path}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(home)
}

/// Starts the installed app as the root's user on `display`, waits for its window to appear and
/// paint, saves a picture of it in `screenshot`, then stops the app.
fn show_window(
    dir: &Path,
    display: &Display,
    version: &str,
    home: &str,
    log: &Path,
    screenshot: &Path,
) -> Result<()> {
    let binary = format!("/usr/bin/{PACKAGE}");
    let mut app = Command::new(host_program("chroot")?);
    app.arg(format!("--userspec={USER}:{USER}"))
        .arg(dir)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", home)
        .env("USER", USER)
        .env("LOGNAME", USER)
        .env("LANG", "C.UTF-8")
        .env("DISPLAY", display.name())
        .env("XDG_RUNTIME_DIR", format!("/tmp/runtime-{USER}"));
    // GTK and WebKit talk to a session bus when there is one; the app's keyring needs one too.
    // The package pulls dbus only if a library it needs does, so the app must start either way.
    let session_bus = dir.join("usr/bin/dbus-run-session").exists();
    if session_bus {
        app.args(["dbus-run-session", "--"]);
    }
    app.arg(&binary);
    let log_file = std::fs::File::create(log)?;
    app.stdin(Stdio::null())
        .stdout(log_file.try_clone()?)
        .stderr(log_file)
        .process_group(0);
    let started = Instant::now();
    let child = app.spawn().context("could not start the installed app")?;
    let mut app = RunningApp { child };
    println!(
        "    started {binary} as {USER} on {}{}",
        display.name(),
        if session_bus {
            " in a private D-Bus session"
        } else {
            " without a session bus (the package pulls no dbus)"
        }
    );

    let window = loop {
        if let Some(status) = app.child.try_wait()? {
            bail!(
                "the installed app ended ({status}) before showing a window:\n{}",
                tail(log)
            );
        }
        // The app adds its version to the title once it is set up.
        let mut search = display.command("xdotool");
        search.args([
            "search",
            "--onlyvisible",
            "--name",
            &format!("^{WINDOW_TITLE}( |$)"),
        ]);
        // xdotool answers 1 while there is no such window.
        let found = output_within(search, "xdotool search", STEP_LIMIT).unwrap_or_default();
        if let Some(id) = found.lines().next() {
            break id.trim().to_owned();
        }
        ensure!(
            started.elapsed() < WINDOW_LIMIT,
            "no window named {WINDOW_TITLE:?} within {WINDOW_LIMIT:?}:\n{}",
            tail(log)
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    println!(
        "    window {window} after {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // The window maps before WebKit paints the page: photograph it until the page shows.
    let colours = loop {
        if let Some(status) = app.child.try_wait()? {
            bail!(
                "the installed app ended ({status}) after showing its window:\n{}",
                tail(log)
            );
        }
        let mut import = display.command("import");
        import.args(["-window", &window]).arg(screenshot);
        output_within(import, "import -window", STEP_LIMIT)?;
        let mut identify = Command::new("identify");
        identify.args(["-format", "%k"]).arg(screenshot);
        let colours: u64 = output(identify, "identify")?.trim().parse()?;
        if colours >= MIN_COLOURS {
            break colours;
        }
        ensure!(
            started.elapsed() < WINDOW_LIMIT,
            "the window stayed blank ({colours} colours) for {WINDOW_LIMIT:?}; see {}",
            screenshot.display()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let mut name = display.command("xdotool");
    name.args(["getwindowname", &window]);
    let title = output_within(name, "xdotool getwindowname", STEP_LIMIT)?;
    let expected = format!("{WINDOW_TITLE} {version}");
    ensure!(
        title.trim() == expected,
        "the window is titled {:?}, not {expected:?}: is the installed binary this build?",
        title.trim()
    );
    println!(
        "    {expected:?} painted after {:.1} s ({colours} colours): {}",
        started.elapsed().as_secs_f64(),
        screenshot.display()
    );
    app.stop();
    Ok(())
}

/// The installed app's process group, stopped when dropped.
struct RunningApp {
    child: Child,
}

impl RunningApp {
    /// Asks the whole group (the app, WebKit's helpers, the session bus) to end, then makes sure.
    fn stop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-TERM", "--", &group])
            .stderr(Stdio::null())
            .status();
        let asked = Instant::now();
        while asked.elapsed() < Duration::from_secs(5) {
            if self.child.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for RunningApp {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.stop();
        }
    }
}

/// Every file under `home` with its bytes, by path.
fn snapshot(home: &Path) -> Result<BTreeMap<PathBuf, Vec<u8>>> {
    let mut files = BTreeMap::new();
    let mut folders = vec![home.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder)? {
            let path = entry?.path();
            let kind = std::fs::symlink_metadata(&path)?.file_type();
            if kind.is_dir() {
                folders.push(path);
            } else if kind.is_file() {
                files.insert(path.clone(), std::fs::read(&path)?);
            }
        }
    }
    Ok(files)
}

/// Removes the package with `dpkg -r` and checks it took its files and left the user's.
fn remove_package(dir: &Path, home: &str, installed: &[String]) -> Result<()> {
    let home = dir.join(home.trim_start_matches('/'));
    let before = snapshot(&home)?;
    for (path, _) in USER_DATA {
        ensure!(
            before.contains_key(&home.join(path)),
            "~/{path} is gone before the package was removed"
        );
    }

    // Folders may be shared with other packages; every file the package owns must go.
    let exists = |path: &&String| std::fs::symlink_metadata(dir.join(path.trim_start_matches('/')));
    let owned: Vec<&String> = installed
        .iter()
        .filter(|path| exists(path).is_ok_and(|meta| !meta.is_dir()))
        .collect();

    let mut remove = in_root(dir);
    remove.args(["dpkg", "-r", PACKAGE]);
    run(remove, "dpkg -r")?;

    let mut status = in_root(dir);
    status.args(["dpkg-query", "-W", "-f=${db:Status-Status}", PACKAGE]);
    let status = status.output()?;
    let status = String::from_utf8_lossy(&status.stdout);
    ensure!(status != "installed", "dpkg still has {PACKAGE} installed");

    let left: Vec<&&String> = owned.iter().filter(|path| exists(path).is_ok()).collect();
    ensure!(left.is_empty(), "dpkg -r left files behind: {left:?}");

    let after = snapshot(&home)?;
    ensure!(
        after == before,
        "the user's files changed when the package was removed: before {:?}, after {:?}",
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    let gone = |kind: fn(&str) -> bool| installed.iter().filter(|path| kind(path)).count();
    println!(
        "    gone: the binary, {} desktop entry, {} icons ({} files in all); the user's {} files \
         unchanged",
        gone(is_desktop_entry),
        gone(|path| icon_size(path).is_some()),
        owned.len(),
        after.len()
    );
    Ok(())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.trim_ascii() == b"0")
}

fn run(mut command: Command, what: &str) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("could not start {what}"))?;
    ensure!(status.success(), "{what} failed ({status})");
    Ok(())
}

/// Like [`output`], for a command that talks to the display and could wait on it forever: it is
/// killed after `limit`.
fn output_within(mut command: Command, what: &str, limit: Duration) -> Result<String> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("could not start {what}"))?;
    let started = Instant::now();
    while child.try_wait()?.is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{what} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output()?;
    ensure!(
        output.status.success(),
        "{what} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// A command's standard output; its error output is in the error when it fails.
fn output(mut command: Command, what: &str) -> Result<String> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("could not start {what}"))?;
    ensure!(
        output.status.success(),
        "{what} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Runs a long command with its output appended to `log`, whose end is shown when it fails.
fn run_logged(mut command: Command, what: &str, log: &Path) -> Result<()> {
    let file = std::fs::OpenOptions::new().append(true).open(log)?;
    command
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file);
    let status = command
        .status()
        .with_context(|| format!("could not start {what}"))?;
    ensure!(status.success(), "{what} failed ({status}):\n{}", tail(log));
    Ok(())
}

/// The last lines of a log, for an error message.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_fields_join_continuation_lines_and_trim_values() {
        let fields = control_fields(
            "Package: ddn-transfer\nVersion: 0.1.0\nDepends: libgtk-3-0,\n libwebkit2gtk-4.1-0\n\
             Installed-Size: 17890\n",
        );
        assert_eq!(fields["Package"], "ddn-transfer");
        assert_eq!(fields["Version"], "0.1.0");
        assert_eq!(fields["Depends"], "libgtk-3-0,\nlibwebkit2gtk-4.1-0");
        assert_eq!(fields["Installed-Size"], "17890");
    }

    #[test]
    fn dependency_names_drop_versions_qualifiers_and_keep_alternatives() {
        for (depends, names) in [
            (
                "libwebkit2gtk-4.1-0, libgtk-3-0",
                &["libwebkit2gtk-4.1-0", "libgtk-3-0"][..],
            ),
            (
                "libc6 (>= 2.34), libssl3:amd64 | libssl1.1 [amd64]",
                &["libc6", "libssl3", "libssl1.1"],
            ),
            (
                "libgtk-3-0,\nlibwebkit2gtk-4.1-0",
                &["libgtk-3-0", "libwebkit2gtk-4.1-0"],
            ),
            ("", &[]),
        ] {
            assert_eq!(dependency_names(depends), names, "{depends:?}");
        }
    }

    #[test]
    fn icon_sizes_come_from_hicolor_folders_and_their_scale() {
        for (path, size) in [
            (
                "/usr/share/icons/hicolor/32x32/apps/ddn-transfer.png",
                Some(32),
            ),
            (
                "/usr/share/icons/hicolor/128x128@2/apps/ddn-transfer.png",
                Some(256),
            ),
            (
                "/usr/share/icons/hicolor/256x256@2x/apps/ddn-transfer.png",
                Some(512),
            ),
            ("/usr/share/icons/hicolor/32x64/apps/ddn-transfer.png", None),
            (
                "/usr/share/icons/hicolor/scalable/apps/ddn-transfer.svg",
                None,
            ),
            ("/usr/share/icons/hicolor/32x32/apps", None),
            ("/usr/share/pixmaps/ddn-transfer.png", None),
        ] {
            assert_eq!(icon_size(path), size, "{path}");
        }
    }

    #[test]
    fn icon_folders_are_checked_against_the_ones_the_theme_declares() {
        let folders = theme_folders(
            "[Icon Theme]\nName=Hicolor\nDirectories=16x16/apps,256x256@2/apps,\n\
             ScaledDirectories=32x32@2/apps\n[16x16/apps]\nSize=16\n",
        );
        assert_eq!(folders, ["16x16/apps", "256x256@2/apps", "32x32@2/apps"]);
        assert_eq!(
            icon_folder("/usr/share/icons/hicolor/256x256@2/apps/ddn-transfer.png"),
            Some("256x256@2/apps")
        );
        assert_eq!(icon_folder("/usr/share/pixmaps/ddn-transfer.png"), None);
    }

    #[test]
    fn a_desktop_entry_names_its_program_without_field_codes() {
        let entry = DesktopEntry::parse(
            "[Desktop Entry]\nCategories=Utility;\nExec=ddn-transfer %U\nIcon=ddn-transfer\n\
             Name=DDN Transfer\nType=Application\n[Desktop Action New]\nName=Other\nExec=other\n",
        )
        .expect("an entry");
        assert_eq!(
            entry,
            DesktopEntry {
                name: "DDN Transfer".into(),
                exec: "ddn-transfer %U".into(),
                icon: "ddn-transfer".into(),
            }
        );
        assert_eq!(entry.program(), "ddn-transfer");
        assert!(DesktopEntry::parse("[Desktop Entry]\nName=No program\nIcon=x\n").is_none());
    }

    #[test]
    fn mount_points_are_read_with_the_kernels_escapes_undone() {
        assert_eq!(
            unescape_mount_point(r"/work/target/packages/debian-root/tmp/a\040b\011c\134d"),
            "/work/target/packages/debian-root/tmp/a b\tc\\d"
        );
        assert_eq!(unescape_mount_point(r"/plain\x"), r"/plain\x");
    }

    #[test]
    fn a_root_without_mounts_is_deleted_and_processes_outside_it_are_not_its_own() {
        let dir = std::env::temp_dir().join(format!("ddn-package-root-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("usr/bin")).expect("folders");
        std::fs::write(dir.join("usr/bin/tool"), "x").expect("file");
        assert!(processes_in(&dir.canonicalize().expect("path")).is_empty());
        assert!(mounts_under(&dir).expect("mount table").is_empty());
        remove_root(&dir).expect("removed");
        assert!(!dir.exists());
    }
}
