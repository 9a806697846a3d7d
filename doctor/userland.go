package doctor

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/minidisk/minidisk/libs"
	"github.com/minidisk/minidisk/rootfs"
)

// initCandidates is the kernel's search order when no init= is given
// (init/main.c, kernel_init): the first that executes becomes PID 1.
var initCandidates = []string{"/sbin/init", "/etc/init", "/bin/init", "/bin/sh"}

// maxScriptDepth is the kernel's limit on nested interpreters
// (BINPRM_MAX_RECURSION in include/linux/binfmts.h).
const maxScriptDepth = 4

// execProblem is why a file would not run as init.
type execProblem struct {
	id            ID
	evidence, fix string
	files         []string
}

// checkUserland finds the init the kernel would run and checks that it can
// run: present, executable, a valid ELF or script, interpreter and libraries
// resolvable inside the image; and /dev/console.
func (d *diag) checkUserland() {
	if d.fs == nil {
		return
	}
	if d.initrd {
		d.add(Finding{ID: IDInitInInitrd, Area: AreaUserland, Severity: Info,
			Title:    "the boot entry loads an initrd",
			Evidence: fmt.Sprintf("initrd %s: the kernel runs its /init first; doctor checks the disk's init as the one the initrd hands over to", d.rep.GRUB.Initrd)})
	}
	res := libs.NewResolver(d.fs.fs)
	if want, ok := d.cmdline["init"]; ok {
		if p := d.checkExec(res, want, 0); p != nil {
			d.add(Finding{ID: p.id, Area: AreaUserland, Severity: Error,
				Title:    fmt.Sprintf("init=%s cannot run", want),
				Evidence: p.evidence + fmt.Sprintf("; the kernel panics \"Requested init %s failed\"", want),
				Fix:      p.fix, Files: p.files})
		} else {
			d.add(Finding{ID: IDInitOK, Area: AreaUserland, Severity: OK,
				Title: fmt.Sprintf("init=%s can run", want), Evidence: d.execSummary(res, want)})
		}
	} else {
		var skipped []execProblem
		found := ""
		for _, c := range initCandidates {
			p := d.checkExec(res, c, 0)
			if p == nil {
				found = c
				break
			}
			if p.id != IDInitMissing {
				skipped = append(skipped, *p)
			}
		}
		for _, p := range skipped {
			sev := Warning
			if found == "" {
				sev = Error
			}
			d.add(Finding{ID: p.id, Area: AreaUserland, Severity: sev,
				Title:    "an init candidate exists but cannot run",
				Evidence: p.evidence + "; the kernel skips it (\"... exists but couldn't execute it\")",
				Fix:      p.fix, Files: p.files})
		}
		switch {
		case found == "" && len(skipped) == 0:
			d.add(Finding{ID: IDInitMissing, Area: AreaUserland, Severity: Error,
				Title:    "no init program: the kernel panics \"No working init found\"",
				Evidence: fmt.Sprintf("none of %s exists in %s, and the kernel line has no init=", strings.Join(initCandidates, ", "), partName(d.fs.part)),
				Fix:      "install BusyBox as /bin/busybox with /bin/sh -> busybox (and /sbin/init -> ../bin/busybox), or pass init=/bin/sh"})
		case found == "":
			d.add(Finding{ID: IDInitNoneWorks, Area: AreaUserland, Severity: Error,
				Title:    "no init candidate can run: the kernel panics \"No working init found\"",
				Evidence: fmt.Sprintf("tried %s; see the findings above", strings.Join(initCandidates, ", ")),
				Fix:      "fix the first candidate (usually /sbin/init or /bin/sh -> busybox)"})
		default:
			d.add(Finding{ID: IDInitOK, Area: AreaUserland, Severity: OK,
				Title: fmt.Sprintf("the kernel will run %s", found), Evidence: d.execSummary(res, found)})
		}
	}
	d.checkConsole()
}

// execSummary describes a runnable program for the ok finding.
func (d *diag) execSummary(res *libs.Resolver, p string) string {
	real, _, err := res.Realpath(p)
	if err != nil {
		return p
	}
	s := p
	if real != p {
		s += " -> " + real
	}
	if c, err := res.Resolve(real); err == nil && c.Interpreter != nil {
		var names []string
		for _, l := range c.Libraries {
			names = append(names, l.Name)
		}
		s += fmt.Sprintf(", interpreter %s, libraries %s", c.Interpreter.Path, strings.Join(names, " "))
	} else if err == nil {
		s += ", static"
	}
	return s
}

// checkExec checks that the kernel can execute p (absolute in the root
// filesystem); nil means it can.
func (d *diag) checkExec(res *libs.Resolver, p string, depth int) *execProblem {
	root := d.fs.fs
	name := fsName(p)
	link := d.describeLink(p)
	fi, err := root.Stat(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			ev := fmt.Sprintf("%s does not exist", p)
			if link != "" {
				ev = fmt.Sprintf("%s%s, whose target does not exist", p, link)
			}
			return &execProblem{id: IDInitMissing, evidence: ev, fix: fmt.Sprintf("add it: BusyBox provides it as a link (ln -s busybox %s; `minidisk rootfs add IMG --kernel BZIMAGE --applets all` links every applet), or boot init=/bin/sh", p)}
		}
		return &execProblem{id: IDInitUnreadable, evidence: fmt.Sprintf("%s%s: %s", p, link, errText(err)), fix: "recreate the filesystem so it fits its partition"}
	}
	if !fi.Mode().IsRegular() {
		return &execProblem{id: IDInitBadFormat, evidence: fmt.Sprintf("%s%s is a %v, not a file", p, link, fi.Mode().Type()), fix: "point it at a program"}
	}
	if fi.Mode().Perm()&0o111 == 0 {
		return &execProblem{id: IDInitNotExecutable, evidence: fmt.Sprintf("%s%s has mode %v: no execute bit, so even root gets EACCES (error -13)", p, link, fi.Mode().Perm()),
			fix: fmt.Sprintf("make it executable where it comes from (chmod 755) and put it in again: `minidisk rootfs add IMG --kernel BZIMAGE --add SRC:%s`", p)}
	}
	head, err := d.readHead(p, 256)
	if err != nil {
		return &execProblem{id: IDInitUnreadable, evidence: fmt.Sprintf("%s%s: %s", p, link, errText(err)), fix: "recreate the filesystem so it fits its partition"}
	}
	switch {
	case bytes.HasPrefix(head, []byte("\x7fELF")):
		return d.checkELF(res, p, link)
	case bytes.HasPrefix(head, []byte("#!")):
		line, _, _ := bytes.Cut(head[2:], []byte("\n"))
		fields := strings.Fields(string(line))
		if len(fields) == 0 {
			return &execProblem{id: IDInitBadFormat, evidence: fmt.Sprintf("%s%s starts with \"#!\" but names no interpreter", p, link), fix: "make the first line #!/bin/sh"}
		}
		interp := fields[0]
		if depth >= maxScriptDepth {
			return &execProblem{id: IDInitBadFormat, evidence: fmt.Sprintf("%s: interpreters nested more than %d deep (ELOOP)", p, maxScriptDepth), fix: "make the script's interpreter a binary"}
		}
		if sub := d.checkExec(res, interp, depth+1); sub != nil {
			sub.evidence = fmt.Sprintf("%s%s is a script for %s, which cannot run: %s", p, link, interp, sub.evidence)
			if sub.id == IDInitMissing {
				sub.id = IDInitInterpreterMissing
			}
			return sub
		}
		return nil
	}
	return &execProblem{id: IDInitBadFormat, evidence: fmt.Sprintf("%s%s is neither an ELF executable nor a #! script (starts % x): ENOEXEC (error -8)", p, link, head[:min(len(head), 4)]),
		fix: fmt.Sprintf("replace %s with a program built for x86-64 (BusyBox)", p)}
}

// checkELF checks an ELF executable's class, type, machine, interpreter
// and libraries (resolved inside the image, as ld.so would).
func (d *diag) checkELF(res *libs.Resolver, p, link string) *execProblem {
	f, err := d.fs.fs.Open(fsName(p))
	if err != nil {
		return &execProblem{id: IDInitUnreadable, evidence: fmt.Sprintf("%s: %s", p, errText(err))}
	}
	defer f.Close()
	ra, ok := f.(io.ReaderAt)
	if !ok {
		return nil
	}
	ef, err := elf.NewFile(ra)
	if err != nil {
		return &execProblem{id: IDInitBadFormat, evidence: fmt.Sprintf("%s%s: a damaged ELF file (%v)", p, link, err), fix: "copy the program again"}
	}
	if ef.Type != elf.ET_EXEC && ef.Type != elf.ET_DYN {
		return &execProblem{id: IDInitBadFormat, evidence: fmt.Sprintf("%s%s is an ELF %v, not an executable", p, link, ef.Type), fix: "install the program, not an object file"}
	}
	if ef.Machine != elf.EM_X86_64 && ef.Machine != elf.EM_386 {
		return &execProblem{id: IDInitWrongArch, evidence: fmt.Sprintf("%s%s is built for %v; an x86 PC runs x86-64 (or i386 with IA32 emulation)", p, link, ef.Machine),
			fix: "install an x86-64 build (Debian's busybox or busybox-static for amd64)"}
	}
	real, _, err := res.Realpath(p)
	if err != nil {
		real = p
	}
	c, err := res.Resolve(real)
	var nf *libs.NotFoundError
	switch {
	case errors.As(err, &nf):
		var interp, libsMissing []string
		var files []string
		for _, m := range nf.Missing {
			if m.Interpreter {
				interp = append(interp, m.Name)
			} else {
				libsMissing = append(libsMissing, fmt.Sprintf("%s (needed by %s)", m.Name, m.NeededBy))
			}
			files = append(files, m.Name)
		}
		if len(interp) > 0 {
			return &execProblem{id: IDInterpMissing, files: files,
				evidence: fmt.Sprintf("%s%s needs the program interpreter %s, which is not in the image: the kernel fails with ENOENT (error -2) although the file exists", p, link, strings.Join(interp, ", ")),
				fix:      fmt.Sprintf("copy %s (and its target) into the image, or use a static BusyBox", strings.Join(interp, ", "))}
		}
		return &execProblem{id: IDLibMissing, files: files,
			evidence: fmt.Sprintf("%s%s: ld.so cannot find %s in the image: \"error while loading shared libraries\", init exits and the kernel panics", p, link, strings.Join(libsMissing, ", ")),
			fix:      "copy the missing libraries into /lib/x86_64-linux-gnu (ldd on the host lists them), or use a static BusyBox"}
	case err != nil:
		return &execProblem{id: IDInitBadFormat, evidence: fmt.Sprintf("%s%s: %v", p, link, err), fix: "copy the program again"}
	}
	if c.Interpreter != nil {
		if fi, err := d.fs.fs.Stat(fsName(c.Interpreter.Real)); err == nil && fi.Mode().Perm()&0o111 == 0 {
			return &execProblem{id: IDInitNotExecutable, files: []string{c.Interpreter.Real},
				evidence: fmt.Sprintf("%s's interpreter %s (%s) has mode %v: the kernel needs execute permission on it (EACCES)", p, c.Interpreter.Name, c.Interpreter.Real, fi.Mode().Perm()),
				fix:      fmt.Sprintf("chmod 755 %s", c.Interpreter.Real)}
		}
	}
	return nil
}

// checkConsole checks the disk root's /dev/console: a character device 5,1.
// Current kernels (6.1: console_on_rootfs() runs before prepare_namespace()
// in init/main.c) open the console on the initial rootfs before mounting the
// disk, so here a missing node is a warning; 2007-era kernels opened it on
// the disk ("Warning: unable to open an initial console"). In an initramfs
// it is an error (checkEFIKernel): /init runs before devtmpfs is mounted.
func (d *diag) checkConsole() {
	d.checkConsoleHeader(AreaUserland, partName(d.fs.part), false, func() (*rootfs.Header, error) {
		return d.fs.fs.Header("/dev/console")
	})
}

func (d *diag) checkConsoleHeader(area Area, where string, initramfs bool, get func() (*rootfs.Header, error)) {
	sev := Warning
	if initramfs {
		sev = Error
	}
	fix := "add it: `minidisk rootfs add IMG --kernel BZIMAGE` writes /dev/console (char 5,1, mode 0600) without root"
	if initramfs {
		fix = "add it to the cpio (as root: mknod -m 600 dev/console c 5 1; or list \"nod /dev/console 0600 0 0 c 5 1\" for gen_init_cpio)"
	}
	h, err := get()
	switch {
	case err != nil:
		d.add(Finding{ID: IDConsoleMissing, Area: area, Severity: sev,
			Title:    "/dev/console is missing",
			Evidence: fmt.Sprintf("no /dev/console in %s: init starts with no stdin/stdout (\"Warning: unable to open an initial console.\")", where),
			Fix:      fix})
	case h.Type != rootfs.TypeChar || h.Devmajor != 5 || h.Devminor != 1:
		got := h.Type.String()
		if h.Type == rootfs.TypeChar || h.Type == rootfs.TypeBlock {
			got += fmt.Sprintf(" %d,%d", h.Devmajor, h.Devminor)
		}
		d.add(Finding{ID: IDConsoleWrong, Area: area, Severity: sev,
			Title:    "/dev/console is not the console device",
			Evidence: fmt.Sprintf("/dev/console in %s is a %s, not char device 5,1", where, got),
			Fix:      "replace it: rm /dev/console; mknod -m 600 /dev/console c 5 1"})
	default:
		d.add(Finding{ID: IDConsoleOK, Area: area, Severity: OK,
			Title: "/dev/console is char device 5,1", Evidence: fmt.Sprintf("in %s, mode %04o", where, h.Mode)})
	}
}
