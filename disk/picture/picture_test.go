package picture

import (
	"bytes"
	"encoding/xml"
	"flag"
	"fmt"
	"math/big"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/minidisk/minidisk/disk"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output (then check them by eye)")

// layout2007 is the recipe's 8 MiB image with a cylinder-aligned partition
// (63..16064): the layout whose mke2fs-without-a-count overruns by 159 blocks.
func layout2007(t testing.TB) *disk.Layout {
	t.Helper()
	l, err := disk.PlanLayout(disk.LayoutOptions{DiskBytes: 8 << 20, CylinderAlign: true})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func layout1GiB(t testing.TB) *disk.Layout {
	t.Helper()
	l, err := disk.PlanLayout(disk.LayoutOptions{DiskBytes: 1 << 30, Align1MiB: true})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// error24Facts are the doctor's numbers for the error-24 image: the 2007
// layout with a filesystem made without a count (the naive block count),
// and a file /big owning the blocks past the partition end.
func error24Facts(t testing.TB) ImageFacts {
	l := layout2007(t)
	return ImageFacts{
		DiskSectors: l.DiskSectors, PartStart: l.Partition.Start, PartSectors: l.Partition.Sectors,
		Stage15Sectors: DefaultStage15Sectors, BlockSize: l.BlockSize, FSBlocks: l.NaiveBlocks(),
		PastEnd: []FileBlocks{{Path: "/big", First: l.CapacityBlocks(), Count: l.Overrun()}},
	}
}

func renderASCII(t testing.TB, width int, pics ...Picture) string {
	t.Helper()
	var b bytes.Buffer
	for i, p := range pics {
		if i > 0 {
			b.WriteString("\n")
		}
		if err := RenderText(&b, p, TextOptions{Width: width, ASCII: true}); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./disk/picture -update, then check the file by eye)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the current output:\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// barLines returns the bar of each row, by row name.
func barLines(t *testing.T, out string) map[string][]string {
	t.Helper()
	m := map[string][]string{}
	for _, line := range strings.Split(out, "\n") {
		for _, name := range []string{"disk", "ext2"} {
			if strings.HasPrefix(line, name+"   ") && strings.Contains(line, "|") {
				m[name] = append(m[name], line)
			}
		}
	}
	return m
}

// seps are the columns of the '|' separators of a bar line.
func seps(line string) []int {
	var out []int
	for i, c := range line {
		if c == '|' {
			out = append(out, i)
		}
	}
	return out
}

// checkPlain checks what every ASCII picture must be: ASCII bytes only, no
// escape sequences, no line wider than width.
func checkPlain(t *testing.T, out string, width int) {
	t.Helper()
	for i := 0; i < len(out); i++ {
		if out[i] >= 0x80 || (out[i] < 0x20 && out[i] != '\n') {
			t.Fatalf("byte %#x at %d is not plain ASCII", out[i], i)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if n := utf8.RuneCountInString(line); n > width {
			t.Errorf("line of %d columns > %d: %q", n, width, line)
		}
	}
}

func mustContain(t *testing.T, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("picture lacks %q:\n%s", w, out)
		}
	}
}

// TestGolden2007 is the recipe's 8 MiB layout, planned and naive. Besides the
// golden file, the numbers are checked against the layout arithmetic, and
// the bars against each other: the ext2 row starts under the partition, and
// the naive filesystem's overrun starts exactly at the partition's end.
func TestGolden2007(t *testing.T) {
	l := layout2007(t)
	planned, naive := FromLayout(l, DefaultStage15Sectors), Naive(l, DefaultStage15Sectors)
	out := renderASCII(t, 80, planned, naive)
	golden(t, "plan-2007", out)
	checkPlain(t, out, 80)
	p := l.Partition
	mustContain(t, out,
		fmt.Sprintf("offset %d bytes", l.OffsetBytes()), // 32256
		fmt.Sprintf("sectors %d..%d (%d)", p.Start, p.End(), p.Sectors),
		fmt.Sprintf("%d KiB", l.PartitionKiB()),
		fmt.Sprintf("ext2: %d blocks of %d B, the count to give mke2fs", l.AlignedBlocks(), l.BlockSize), // 8000
		fmt.Sprintf("%d blocks = (%d - %d) / %d", l.NaiveBlocks(), l.DiskBytes(), l.OffsetBytes(), l.BlockSize),
		fmt.Sprintf("%d blocks PAST THE END", l.Overrun()), // 159
		fmt.Sprintf("sectors 1..%d (%d)", DefaultStage15Sectors, DefaultStage15Sectors),
		fmt.Sprintf("sectors %d..%d (%d); not in any partition", p.End()+1, l.DiskSectors-1, l.TailSectors()),
	)
	if l.OffsetBytes() != 32256 || l.AlignedBlocks() != 8000 || l.Overrun() != 159 {
		t.Fatalf("the 2007 layout changed: offset %d, blocks %d, overrun %d", l.OffsetBytes(), l.AlignedBlocks(), l.Overrun())
	}
	bars := barLines(t, out)
	if len(bars["disk"]) != 2 || len(bars["ext2"]) != 2 {
		t.Fatalf("want a disk and an ext2 bar per picture: %v", bars)
	}
	for i := range 2 {
		d, f := seps(bars["disk"][i]), seps(bars["ext2"][i])
		// disk: | M | S | g | partition | tail |  → partition edges are d[3], d[4]
		if len(d) != 6 {
			t.Fatalf("disk bar %q: %d separators, want 6", bars["disk"][i], len(d))
		}
		if f[0] != d[3] {
			t.Errorf("ext2 starts at column %d, the partition at %d", f[0], d[3])
		}
		if i == 0 && f[len(f)-2] >= d[4] {
			t.Errorf("planned ext2 (ends col %d) reaches the partition end (col %d)", f[len(f)-2], d[4])
		}
		if i == 1 {
			if f[1] != d[4] {
				t.Errorf("naive: the overrun starts at column %d, the partition ends at %d", f[1], d[4])
			}
			x := strings.IndexByte(bars["ext2"][i], 'X')
			if x != d[4]+1 || !strings.Contains(bars["ext2"][i], "!") {
				t.Errorf("naive: the overrun is not drawn in its own style right after the partition end: %q", bars["ext2"][i])
			}
		}
	}
}

func TestGolden1GiB(t *testing.T) {
	l := layout1GiB(t)
	out := renderASCII(t, 80, FromLayout(l, DefaultStage15Sectors))
	golden(t, "plan-1mib", out)
	checkPlain(t, out, 80)
	p := l.Partition
	mustContain(t, out,
		fmt.Sprintf("offset %d bytes", l.OffsetBytes()), // 1048576
		fmt.Sprintf("sectors %d..%d (%d)", p.Start, p.End(), p.Sectors),
		fmt.Sprintf("ext2: %d blocks of %d B, the count to give mke2fs", l.AlignedBlocks(), l.BlockSize),
		fmt.Sprintf("sectors %d..%d (%d)", 1+DefaultStage15Sectors, p.Start-1, p.Start-1-DefaultStage15Sectors),
	)
	if strings.Contains(out, "tail") || strings.Contains(out, "PAST") || strings.Contains(out, "unused") {
		t.Errorf("the 1 MiB layout fills the image exactly; nothing should be unused or past the end:\n%s", out)
	}
	bars := barLines(t, out)
	d, f := seps(bars["disk"][0]), seps(bars["ext2"][0])
	if f[0] != d[3] || f[1] != d[4] || d[4] != 80-1 {
		t.Errorf("ext2 %v should span the partition %v to the last column", f, d)
	}
}

func TestGoldenError24(t *testing.T) {
	facts := error24Facts(t)
	pic, err := FromImage(facts)
	if err != nil {
		t.Fatal(err)
	}
	out := renderASCII(t, 80, pic)
	golden(t, "error24", out)
	checkPlain(t, out, 80)
	l := layout2007(t)
	mustContain(t, out,
		fmt.Sprintf("ext2 claims %d blocks: %d blocks (%d..%d) lie past the partition end", l.NaiveBlocks(), l.Overrun(), l.CapacityBlocks(), l.NaiveBlocks()-1),
		fmt.Sprintf("/big (%d blocks from block %d)", l.Overrun(), l.CapacityBlocks()),
		fmt.Sprintf("offset %d bytes", l.OffsetBytes()))
	bars := barLines(t, out)
	d := seps(bars["disk"][0])
	// The mark's caret is under the first cell of the overrun.
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "/big") && strings.Contains(line, "^") {
			if c := strings.IndexByte(line, '^'); c != d[4]+1 {
				t.Errorf("the /big mark is at column %d, the overrun starts at %d", c, d[4]+1)
			}
			return
		}
	}
	t.Errorf("no mark for /big:\n%s", out)
}

// TestWidths renders every picture for COLUMNS 40, 80 and 200, through
// TerminalOptions as the commands do: no line is wider, the bars use the
// whole width, and a buffer (not a terminal) gets no colour.
func TestWidths(t *testing.T) {
	pic24, err := FromImage(error24Facts(t))
	if err != nil {
		t.Fatal(err)
	}
	pics := []Picture{FromLayout(layout2007(t), 19), Naive(layout2007(t), 19), FromLayout(layout1GiB(t), 19), pic24}
	for _, cols := range []string{"40", "80", "200", "", "junk"} {
		env := func(k string) string {
			if k == "COLUMNS" {
				return cols
			}
			return ""
		}
		var b bytes.Buffer
		opt := TerminalOptions(&b, false, env)
		want := map[string]int{"40": 40, "80": 80, "200": 200, "": 80, "junk": 80}[cols]
		if opt.Width != want || opt.Color {
			t.Fatalf("COLUMNS=%q: options %+v, want width %d without colour", cols, opt, want)
		}
		for _, p := range pics {
			b.Reset()
			if err := RenderText(&b, p, opt); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			bars := 0
			for _, line := range strings.Split(out, "\n") {
				if n := utf8.RuneCountInString(line); n > want {
					t.Errorf("COLUMNS=%s: %d-column line %q", cols, n, line)
				}
				if strings.HasPrefix(line, "disk ") {
					bars++
					if n := utf8.RuneCountInString(line); n != want {
						t.Errorf("COLUMNS=%s: the disk bar is %d columns, want all %d", cols, n, want)
					}
				}
			}
			if bars != 1 {
				t.Errorf("COLUMNS=%s: %d disk bars in\n%s", cols, bars, out)
			}
		}
	}
}

// TestColor: colour mode uses ANSI only inside the bars and, with the
// escapes removed, stays within the width; ASCII mode wins over colour.
func TestColor(t *testing.T) {
	p := Naive(layout2007(t), 19)
	var b bytes.Buffer
	if err := RenderText(&b, p, TextOptions{Width: 60, Color: true}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.Contains(out, "\x1b[41;97;1m") || !strings.Contains(out, "\x1b[44;97m") {
		t.Errorf("no overrun (red) or partition (blue) colour:\n%q", out)
	}
	for _, line := range strings.Split(out, "\n") {
		plain := stripANSI(line)
		if n := utf8.RuneCountInString(plain); n > 60 {
			t.Errorf("coloured line is %d columns: %q", n, plain)
		}
	}
	b.Reset()
	if err := RenderText(&b, p, TextOptions{Width: 60, Color: true, ASCII: true}); err != nil {
		t.Fatal(err)
	}
	checkPlain(t, b.String(), 60)
	if o := TerminalOptions(&b, true, func(string) string { return "" }); o.Color || !o.ASCII {
		t.Errorf("--ascii must force no colour: %+v", o)
	}
}

func stripANSI(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == 0x1b {
			for i < len(s) && s[i] != 'm' {
				i++
			}
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// TestTooNarrow: a terminal too narrow for the bar gets one notice line,
// not a broken picture.
func TestTooNarrow(t *testing.T) {
	var b bytes.Buffer
	if err := RenderText(&b, FromLayout(layout2007(t), 19), TextOptions{Width: 20, ASCII: true}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "picture omitted") || strings.Contains(b.String(), "disk   |") {
		t.Errorf("narrow output:\n%s", b.String())
	}
	checkPlain(t, b.String(), 20)
}

// checkScale verifies widths against the documented rule, independently of
// Scale's algorithm: there must be a set F of minimum-width segments such
// that, with R = total − min·|F| and S = the sectors outside F, every
// segment in F has a share s·R/S below min and every other segment has a
// share of at least min and is within one unit of it (|w·S − s·R| < S). The
// shares grow with s, so F is some smallest-first prefix of the segments
// drawn at the minimum; each prefix is tried.
func checkScale(t *testing.T, sectors []uint64, w []int, total, min int) {
	t.Helper()
	sum := 0
	var cand []int
	for k, x := range w {
		sum += x
		if x < min {
			t.Fatalf("segment %d: width %d < minimum %d", k, x, min)
		}
		if x == min {
			cand = append(cand, k)
		}
	}
	if sum != total {
		t.Fatalf("widths %v add up to %d, want %d", w, sum, total)
	}
	if len(cand) == len(w) {
		return // everything at the minimum (the spare units go to the largest)
	}
	for i := 1; i < len(cand); i++ {
		for j := i; j > 0 && sectors[cand[j]] < sectors[cand[j-1]]; j-- {
			cand[j], cand[j-1] = cand[j-1], cand[j]
		}
	}
	for n := 0; n <= len(cand); n++ {
		inF := map[int]bool{}
		for _, k := range cand[:n] {
			inF[k] = true
		}
		S := new(big.Int)
		for k := range w {
			if !inF[k] {
				S.Add(S, new(big.Int).SetUint64(sectors[k]))
			}
		}
		if S.Sign() == 0 {
			continue
		}
		R := big.NewInt(int64(total - min*n))
		mS := new(big.Int).Mul(big.NewInt(int64(min)), S)
		good := true
		for k, x := range w {
			sR := new(big.Int).Mul(new(big.Int).SetUint64(sectors[k]), R)
			if inF[k] {
				good = good && sR.Cmp(mS) < 0
				continue
			}
			diff := new(big.Int).Sub(new(big.Int).Mul(big.NewInt(int64(x)), S), sR)
			good = good && sR.Cmp(mS) >= 0 && diff.Abs(diff).Cmp(S) < 0
		}
		if good {
			return
		}
	}
	t.Errorf("widths %v of segments %v (total %d, min %d) follow no reading of the rule", w, sectors, total, min)
}

func TestScaleRule(t *testing.T) {
	// Plain proportion when nothing is small.
	w, err := Scale([]uint64{100, 300}, 40, 3)
	if err != nil || w[0] != 10 || w[1] != 30 {
		t.Fatalf("Scale(100,300) = %v, %v; want [10 30]", w, err)
	}
	// The 2007 disk row: 1, 19, 43, 16002, 319 sectors in 72 columns.
	w, err = Scale([]uint64{1, 19, 43, 16002, 319}, 72, 3)
	if err != nil {
		t.Fatal(err)
	}
	if w[0] != 3 || w[1] != 3 || w[2] != 3 {
		t.Errorf("small regions not at the minimum: %v", w)
	}
	checkScale(t, []uint64{1, 19, 43, 16002, 319}, w, 72, 3)
	if _, err := Scale([]uint64{1, 2, 3}, 8, 3); err == nil {
		t.Error("3 segments of minimum 3 fit in 8 units?")
	}
	rng := rand.New(rand.NewSource(9))
	for i := 0; i < 2000; i++ {
		n := 1 + rng.Intn(10)
		sec := make([]uint64, n)
		for k := range sec {
			switch rng.Intn(3) {
			case 0:
				sec[k] = 1 + uint64(rng.Intn(50))
			case 1:
				sec[k] = 1 + uint64(rng.Int63n(1<<20))
			default:
				sec[k] = 1 + uint64(rng.Int63n(1<<40))
			}
		}
		min := 1 + rng.Intn(40)
		total := n*min + rng.Intn(1000)
		w, err := Scale(sec, total, min)
		if err != nil {
			t.Fatal(err)
		}
		checkScale(t, sec, w, total, min)
	}
}

// TestFromImageRejects: doctor's numbers from a broken image give an error,
// not a panic or a picture that lies.
func TestFromImageRejects(t *testing.T) {
	ok := error24Facts(t)
	for name, mut := range map[string]func(*ImageFacts){
		"empty image":        func(f *ImageFacts) { f.DiskSectors = 0 },
		"partition at 0":     func(f *ImageFacts) { f.PartStart = 0 },
		"partition too long": func(f *ImageFacts) { f.PartSectors = f.DiskSectors },
		"block size 1000":    func(f *ImageFacts) { f.BlockSize = 1000 },
		"start past end":     func(f *ImageFacts) { f.PartStart = f.DiskSectors },
	} {
		f := ok
		mut(&f)
		if _, err := FromImage(f); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// A filesystem claiming more than the image holds is clipped and said.
	f := ok
	f.FSBlocks = 1 << 40
	p, err := FromImage(f)
	if err != nil {
		t.Fatal(err)
	}
	out := renderASCII(t, 80, p)
	mustContain(t, out, "the image is truncated", "PAST THE END")
	// A hostile file name cannot reach the terminal as an escape sequence.
	f = ok
	f.PastEnd = []FileBlocks{{Path: "/evil\x1b[2J\nname", First: 8001, Count: 1}, {Path: "/only-a-name"}}
	p, err = FromImage(f)
	if err != nil {
		t.Fatal(err)
	}
	out = renderASCII(t, 80, p)
	checkPlain(t, out, 80)
	mustContain(t, out, "/evil?[2J?name", "/only-a-name has blocks past the partition end")
}

func FuzzFromImage(f *testing.F) {
	f.Add(uint64(16384), uint64(63), uint64(16002), uint64(19), 1024, uint64(8160), uint64(8001), uint64(159), 80)
	f.Add(uint64(2097152), uint64(2048), uint64(2095104), uint64(19), 4096, uint64(261888), uint64(0), uint64(0), 40)
	f.Add(uint64(1), uint64(1), uint64(1), uint64(0), 512, uint64(1<<63), uint64(1<<62), uint64(1), 1)
	f.Add(uint64(1<<64-1), uint64(1<<64-2), uint64(1), uint64(1<<64-1), 65536, uint64(1<<62), uint64(1<<64-1), uint64(0), 200)
	f.Fuzz(func(t *testing.T, diskS, start, part, s15 uint64, bs int, blocks, first, count uint64, width int) {
		p, err := FromImage(ImageFacts{DiskSectors: diskS, PartStart: start, PartSectors: part, Stage15Sectors: s15,
			BlockSize: bs, FSBlocks: blocks, PastEnd: []FileBlocks{{Path: "/f", First: first, Count: count}}})
		if err != nil {
			return
		}
		if width < 0 || width > 500 {
			width = 80
		}
		var b bytes.Buffer
		if err := RenderText(&b, p, TextOptions{Width: width, ASCII: true}); err != nil {
			t.Fatal(err)
		}
		lim := width
		if lim <= 0 {
			lim = DefaultWidth
		}
		for _, line := range strings.Split(b.String(), "\n") {
			if utf8.RuneCountInString(line) > lim {
				t.Fatalf("line wider than %d: %q", lim, line)
			}
		}
		if err := RenderSVG(&b, p); err != nil {
			t.Fatal(err)
		}
	})
}

func TestWriteSVGFileRefusesOverwrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.svg")
	p := FromLayout(layout2007(t), 19)
	if err := WriteSVGFile(path, false, p); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := WriteSVGFile(path, false, p)
	if err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("overwrite without force: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "keep" {
		t.Fatal("the existing file was changed")
	}
	if err := WriteSVGFile(path, true, p); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); !bytes.HasPrefix(b, []byte("<?xml")) {
		t.Fatal("--force did not replace the file")
	}
}

// TestTerminalColor: colour on a terminal (a pty here) unless NO_COLOR is
// set and non-empty, or --ascii.
func TestTerminalColor(t *testing.T) {
	pty, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	defer pty.Close()
	env := func(noColor string) func(string) string {
		return func(k string) string {
			if k == "NO_COLOR" {
				return noColor
			}
			return ""
		}
	}
	if o := TerminalOptions(pty, false, env("")); !o.Color || o.Width <= 0 {
		t.Errorf("terminal without NO_COLOR: %+v, want colour", o)
	}
	if o := TerminalOptions(pty, false, env("1")); o.Color {
		t.Errorf("NO_COLOR=1: %+v, want no colour", o)
	}
	if o := TerminalOptions(pty, true, env("")); o.Color {
		t.Errorf("--ascii on a terminal: %+v, want no colour", o)
	}
}

func BenchmarkRenderText(b *testing.B) {
	p := Naive(layout2007(b), DefaultStage15Sectors)
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		if err := RenderText(&buf, p, TextOptions{Width: 80}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRenderSVG(b *testing.B) {
	p := Naive(layout2007(b), DefaultStage15Sectors)
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		if err := RenderSVG(&buf, p); err != nil {
			b.Fatal(err)
		}
	}
}

// TestEscMatchesEncodingXML: esc is encoding/xml's EscapeText (the oracle,
// linked into the test only) for markup characters, controls, invalid
// UTF-8, surrogates, non-characters and ordinary text.
func TestEscMatchesEncodingXML(t *testing.T) {
	for _, s := range []string{
		"", "plain", `a<b>&"c'd`, "tab\there\nnew\rline", "\x00\x01\x1f\x7f", "bad \xff utf8",
		"\uFFFE\uFFFF", "\U0010FFFF", "ext2 × 1024 B → sectors", string([]rune{0xD800}),
	} {
		var want strings.Builder
		xml.EscapeText(&want, []byte(s))
		if got := esc(s); got != want.String() {
			t.Errorf("esc(%q) = %q, encoding/xml says %q", s, got, want.String())
		}
	}
}

func FuzzEscMatchesEncodingXML(f *testing.F) {
	f.Add(`a<b>&"c'd` + "\t\x00\xff")
	f.Fuzz(func(t *testing.T, s string) {
		var want strings.Builder
		xml.EscapeText(&want, []byte(s))
		if got := esc(s); got != want.String() {
			t.Errorf("esc(%q) = %q, encoding/xml says %q", s, got, want.String())
		}
	})
}
