package explain

import (
	"context"
	"encoding/json"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/minidisk/minidisk/kernel/kerneltest"
)

// chromiumDOM loads url in headless Chromium and returns the DOM after its
// scripts ran, and the network requests the page itself started (Chromium's
// own background requests carry the initiator "not an origin").
func chromiumDOM(t *testing.T, url string) (dom string, pageRequests []string) {
	t.Helper()
	chromium := testutil.RequireTool(t, "chromium", "chromium")
	dir := t.TempDir()
	netlog := filepath.Join(dir, "net.json")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--log-net-log="+netlog, "--virtual-time-budget=3000", "--dump-dom", url)
	cmd.Env = append(os.Environ(), "HOME="+dir)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	raw, err := os.ReadFile(netlog)
	must(t, err)
	var log struct {
		Constants struct {
			LogEventTypes map[string]int `json:"logEventTypes"`
		} `json:"constants"`
		Events []struct {
			Type   int `json:"type"`
			Params struct {
				Initiator string `json:"initiator"`
				URL       string `json:"url"`
			} `json:"params"`
		} `json:"events"`
	}
	// Chromium may stop before closing the JSON array.
	s := strings.TrimSpace(string(raw))
	if !strings.HasSuffix(s, "}") {
		s = strings.TrimSuffix(s, ",") + "]}"
	}
	if err := json.Unmarshal([]byte(s), &log); err != nil {
		t.Fatalf("net log: %v", err)
	}
	start := log.Constants.LogEventTypes["URL_REQUEST_START_JOB"]
	for _, e := range log.Events {
		if e.Type == start && e.Params.URL != "" && e.Params.Initiator != "not an origin" && !strings.HasPrefix(e.Params.URL, "file:") {
			pageRequests = append(pageRequests, e.Params.URL)
		}
	}
	return string(out), pageRequests
}

func TestHTMLPage(t *testing.T) {
	img, _, _ := hostImage(t, 12, kerneltest.FakeBzImage(t))
	before := sha(t, img)
	d := openDisk(t, img)
	page := filepath.Join(t.TempDir(), "disk.html")
	must(t, d.WriteHTMLFile(page, false, HTMLOptions{Path: "/boot/vmlinuz"}))
	if err := d.WriteHTMLFile(page, false, HTMLOptions{}); err == nil {
		t.Error("an existing page was replaced without force")
	}
	if sha(t, img) != before {
		t.Fatal("--html changed the image")
	}
	doc, err := os.ReadFile(page)
	must(t, err)
	// Self-contained: no URL but the SVG namespace.
	for _, u := range regexp.MustCompile(`(?i)(?:https?:|//)[^"' <]*`).FindAllString(string(doc), -1) {
		if u != "http://www.w3.org/2000/svg" {
			t.Errorf("the page references %q", u)
		}
	}
	// Every cross-link lands on a field or a structure of the page.
	ids := map[string]bool{}
	for _, m := range regexp.MustCompile(`id="([^"]+)"`).FindAllStringSubmatch(string(doc), -1) {
		ids[m[1]] = true
	}
	links := regexp.MustCompile(`href="#([fs])-([^"]+)"`).FindAllStringSubmatch(string(doc), -1)
	if len(links) < 50 {
		t.Errorf("only %d cross-links", len(links))
	}
	for _, m := range links {
		if !ids["f-"+m[2]] && !ids["s-"+m[2]] {
			t.Errorf("link #%s-%s leads nowhere", m[1], m[2])
		}
	}
	// Validators: tidy (HTML5) reports no errors; xmllint's HTML 4 parser
	// only does not know the HTML5 and SVG element names.
	tidy := testutil.RequireTool(t, "tidy", "tidy")
	if out, err := exec.Command(tidy, "-e", "-q", page).CombinedOutput(); err != nil {
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() >= 2 {
			t.Errorf("tidy -e: %v\n%s", err, out)
		}
	}
	xmllint := testutil.RequireTool(t, "xmllint", "libxml2-utils")
	out, _ := exec.Command(xmllint, "--html", "--noout", page).CombinedOutput()
	html5 := regexp.MustCompile(`^Tag (svg|rect|text|path|defs|marker|details|summary|figure|figcaption|header|nav|main) invalid$`)
	for _, m := range regexp.MustCompile(`HTML parser error : (.*)`).FindAllStringSubmatch(string(out), -1) {
		if !html5.MatchString(m[1]) {
			t.Errorf("xmllint --html: %s", m[1])
		}
	}
	// Chromium: ?click=mbr.p1 clicks the partition entry's region on load;
	// its decoded fields must be open and current, with no request made.
	dom, reqs := chromiumDOM(t, "file://"+page+"?click=mbr.p1")
	if len(reqs) > 0 {
		t.Errorf("the page made network requests: %v", reqs)
	}
	sec := regexp.MustCompile(`(?s)<details id="s-mbr\.p1" class="sec current" open="">(.*?)</details>`).FindStringSubmatch(dom)
	if sec == nil {
		t.Fatalf("clicking the partition region did not open partition entry 1:\n%.2000s", dom)
	}
	start, size := sfdiskPart(t, img)
	for _, want := range []string{"start LBA", ">" + itoa(start) + "<", "sectors", ">" + itoa(size) + "<", "start CHS", "0/1/1", ">83<"} {
		if !strings.Contains(sec[1], want) {
			t.Errorf("opened entry lacks %q:\n%s", want, sec[1])
		}
	}
	if !strings.Contains(dom, "showing: partition entry 1") {
		t.Error("the panel does not name the opened structure")
	}
	// It renders: a screenshot of the top of the page is far from blank.
	shot := filepath.Join(t.TempDir(), "shot.png")
	if nonWhite, total := screenshot(t, "file://"+page, shot); nonWhite < total/10 {
		t.Errorf("the page renders nearly blank: %d of %d sampled pixels non-white", nonWhite, total)
	}
	// The detector sees a request when there is one.
	bad := filepath.Join(t.TempDir(), "bad.html")
	must(t, os.WriteFile(bad, []byte(`<!DOCTYPE html><html><body><img src="http://127.0.0.1:9/x.png" alt=""></body></html>`), 0o644))
	if _, reqs := chromiumDOM(t, "file://"+bad); len(reqs) == 0 {
		t.Error("the network check saw no request from a page that makes one")
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// screenshot renders url at 1200x1000 in headless Chromium into out and
// counts the non-white pixels of a 2-pixel sample grid.
func screenshot(t *testing.T, url, out string) (nonWhite, total int) {
	t.Helper()
	chromium := testutil.RequireTool(t, "chromium", "chromium")
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--virtual-time-budget=3000", "--screenshot="+out,
		"--window-size=1200,1000", url)
	cmd.Env = append(os.Environ(), "HOME="+dir)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, b)
	}
	fh, err := os.Open(out)
	must(t, err)
	defer fh.Close()
	pic, err := png.Decode(fh)
	must(t, err)
	b := pic.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := pic.At(x, y).RGBA()
			total++
			if r>>8 < 240 || g>>8 < 240 || bl>>8 < 240 {
				nonWhite++
			}
		}
	}
	return nonWhite, total
}
