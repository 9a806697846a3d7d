package explain

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"strings"

	"github.com/minidisk/minidisk/internal/atomicfile"
)

// HTMLOptions shape the --html page.
type HTMLOptions struct {
	Path  string // the file whose walk the page shows ("" = /boot/vmlinuz)
	Large bool   // large type for a projector (also toggled with the L key)
}

// WriteHTMLFile writes the page through atomicfile: complete or absent; an
// existing file is replaced only with force.
func (d *Disk) WriteHTMLFile(path string, force bool, opt HTMLOptions) error {
	f, err := atomicfile.Create(path, force)
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := d.WriteHTML(f, opt); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Commit()
}

// WriteHTML writes one self-contained page: every view that applies, the
// layout as an SVG whose regions open their annotated hex, the path walk
// drawn as arrows from inode to blocks, and every field cross-linked to
// the fields it came from. No external resource of any kind is referenced.
func (d *Disk) WriteHTML(w io.Writer, opt HTMLOptions) error {
	if opt.Path == "" {
		opt.Path = "/boot/vmlinuz"
	}
	views, errs := d.All(opt.Path)
	if len(views) == 0 {
		return fmt.Errorf("nothing to explain: %v", errs)
	}
	bw := bufio.NewWriter(w)
	e := html.EscapeString
	body := ""
	if opt.Large {
		body = ` class="large"`
	}
	fmt.Fprintf(bw, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n<title>%s: the anatomy of a boot disk</title>\n<style>%s</style>\n</head>\n<body%s>\n", e(d.name), pageCSS, body)
	fmt.Fprintf(bw, "<header><h1>%s</h1><p>The anatomy of a boot disk, byte by byte. Click a region of the picture to open its annotated bytes; every blue number links to the field it came from. Keys: j/k or ↓/↑ next/previous structure, Enter open/close, L large type.</p>\n<nav>", e(d.name))
	for _, v := range views {
		fmt.Fprintf(bw, `<a href="#v-%s">%s</a> `, v.What, v.What)
	}
	fmt.Fprintln(bw, `</nav><p id="panel" aria-live="polite"></p></header>`)
	fmt.Fprintln(bw, "<main>")
	d.writeLayoutSVG(bw, views)
	for _, v := range views {
		fmt.Fprintf(bw, "<h2 id=\"v-%s\">%s: %s</h2>\n", v.What, v.What, e(v.Title))
		if v.What == "path" {
			writeWalkSVG(bw, v)
		}
		for _, s := range v.Sections {
			writeSectionHTML(bw, v, s)
		}
	}
	for _, err := range errs {
		fmt.Fprintf(bw, "<p class=\"na\">%s</p>\n", e(err.Error()))
	}
	fmt.Fprintf(bw, "</main>\n<script>%s</script>\n</body>\n</html>\n", pageJS)
	return bw.Flush()
}

func writeSectionHTML(w io.Writer, v *View, s Section) {
	e := html.EscapeString
	fmt.Fprintf(w, "<details id=\"s-%s\" class=\"sec\"><summary>%s</summary>\n", e(s.ID), e(s.Title))
	for _, n := range s.Notes {
		fmt.Fprintf(w, "<p>%s</p>\n", e(n))
	}
	if s.Dump && len(s.bytes) > 0 {
		writeHexHTML(w, s.Offset, s.bytes, v.fieldsIn(s.Offset, int64(len(s.bytes))))
	}
	if len(s.Fields) > 0 {
		fmt.Fprintln(w, `<table><thead><tr><th>offset</th><th>bytes</th><th>field</th><th>value</th><th>meaning</th></tr></thead><tbody>`)
		for _, f := range s.Fields {
			if f.Offset < 0 {
				fmt.Fprintf(w, "<tr><td></td><td></td><td>see</td><td colspan=\"2\">%s</td></tr>\n", refLinks(f.Refs))
				continue
			}
			cls := ""
			if f.Patched {
				cls = ` class="patched"`
			}
			refs := ""
			if len(f.Refs) > 0 {
				refs = " — from/to " + refLinks(f.Refs)
			}
			raw := ""
			if f.Raw != "" {
				raw = "<code>" + e(f.Raw) + "</code>"
			}
			fmt.Fprintf(w, "<tr id=\"f-%s\"%s><td>%d<br><small>0x%X</small></td><td>%s</td><td>%s</td><td><b>%s</b></td><td>%s%s</td></tr>\n",
				e(f.ID), cls, f.Offset, f.Offset, raw, e(f.Name), e(f.Text), e(f.Meaning), refs)
		}
		fmt.Fprintln(w, "</tbody></table>")
	}
	fmt.Fprintln(w, "</details>")
}

// refLinks links each referenced field or section: fields are rows
// "f-ID", sections "s-ID"; the script opens whichever exists.
func refLinks(refs []string) string {
	var out []string
	for _, r := range refs {
		out = append(out, fmt.Sprintf(`<a class="ref" href="#f-%s">%s</a>`, html.EscapeString(r), html.EscapeString(r)))
	}
	return strings.Join(out, ", ")
}

// writeHexHTML prints the bytes 16 a line; bytes that belong to a field
// link to its row.
func writeHexHTML(w io.Writer, base int64, b []byte, fields []Field) {
	owner := make([]*Field, len(b))
	for i := range fields {
		f := &fields[i]
		for k := 0; k < f.Size; k++ {
			o := f.Offset - base + int64(k)
			if o >= 0 && o < int64(len(b)) && owner[o] == nil {
				owner[o] = f
			}
		}
	}
	fmt.Fprint(w, `<pre class="hex">`)
	for o := 0; o < len(b); o += 16 {
		fmt.Fprintf(w, "%08x  ", base+int64(o))
		for i := o; i < min(o+16, len(b)); i++ {
			if i == o+8 {
				fmt.Fprint(w, " ")
			}
			if f := owner[i]; f != nil {
				cls := "fb"
				if f.Patched {
					cls = "fb patched"
				}
				fmt.Fprintf(w, `<a class="%s" href="#f-%s" title="%s">%02x</a> `, cls, html.EscapeString(f.ID), html.EscapeString(f.Name), b[i])
			} else {
				fmt.Fprintf(w, "%02x ", b[i])
			}
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "</pre>")
}

// region is one clickable box of the layout picture.
type region struct {
	target string // section ID it opens
	label  string
	sub    string
	kind   string // CSS class
	weight int    // relative width
}

// writeLayoutSVG draws the disk as two schematic rows (not to scale: the
// MBR is one sector of thousands): the disk as the partition table sees
// it, and the partition as ext2 lays it out.
func (d *Disk) writeLayoutSVG(w io.Writer, views []*View) {
	has := map[string]bool{}
	for _, v := range views {
		for _, s := range v.Sections {
			has[s.ID] = true
		}
	}
	var disk []region
	disk = append(disk, region{"mbr.boot_code", "boot code", "bytes 0..439", "mbr", 3})
	disk = append(disk, region{"mbr.p1", "table", "4 entries", "mbr", 3})
	disk = append(disk, region{"mbr.boot_signature", "55 AA", "510..511", "mbr", 2})
	if has["gap.sector1"] {
		disk = append(disk, region{"gap.sector1", "stage1.5", "GRUB, embedded", "embed", 4})
	}
	if has["gap"] {
		disk = append(disk, region{"gap", "gap", "unused", "gap", 2})
	}
	first := d.firstPartitionStart()
	disk = append(disk, region{"mbr.p1", "partition 1", fmt.Sprintf("from sector %d", first), "part", 12})
	var fsr []region
	if has["fs.superblock"] {
		fsr = append(fsr, region{"fs.superblock", "superblock", "1024 bytes in", "sb", 3})
		for g := 0; g < 4 && has[fmt.Sprintf("fs.g%d", g)]; g++ {
			fsr = append(fsr, region{fmt.Sprintf("fs.g%d", g), fmt.Sprintf("group %d", g), "bitmaps, inode table, data", "grp", 5})
		}
		if has["path.data"] {
			fsr = append(fsr, region{"path.data", "file data", "the walked file's blocks", "data", 4})
		}
	}
	const width, rowH, pad = 1000, 64, 10
	height := pad + rowH + 30
	if len(fsr) > 0 {
		height += rowH + 40
	}
	fmt.Fprintf(w, "<figure><svg id=\"layout\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"layout of the disk\">\n", width, height)
	fmt.Fprintf(w, "<text x=\"%d\" y=\"%d\" class=\"rowname\">disk (sector 0 →)</text>\n", pad, pad+12)
	drawRow(w, disk, pad, pad+18, width-2*pad, rowH, "r-")
	if len(fsr) > 0 {
		y := pad + 18 + rowH + 30
		fmt.Fprintf(w, "<text x=\"%d\" y=\"%d\" class=\"rowname\">partition 1 as ext2 lays it out</text>\n", pad, y-6)
		drawRow(w, fsr, pad+300, y, width-2*pad-300, rowH, "rf-")
		fmt.Fprintf(w, "<path d=\"M %d %d L %d %d\" class=\"zoom\"/>\n", width-pad-int(float64(width-2*pad)*12/float64(totalWeight(disk))), pad+18+rowH, pad+300, y)
	}
	fmt.Fprintln(w, "</svg><figcaption>Schematic, not to scale. Click a region.</figcaption></figure>")
}

func totalWeight(rs []region) int {
	n := 0
	for _, r := range rs {
		n += r.weight
	}
	return n
}

func drawRow(w io.Writer, rs []region, x0, y, width, h int, prefix string) {
	e := html.EscapeString
	total := totalWeight(rs)
	x := float64(x0)
	seen := map[string]bool{}
	for _, r := range rs {
		rw := float64(width) * float64(r.weight) / float64(total)
		id := prefix + r.target
		if seen[id] {
			id += "-2"
		}
		seen[id] = true
		fmt.Fprintf(w, "<a href=\"#s-%s\" id=\"%s\" class=\"region\" data-target=\"s-%s\"><rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" class=\"%s\"/><text x=\"%.1f\" y=\"%d\">%s</text><text x=\"%.1f\" y=\"%d\" class=\"sub\">%s</text></a>\n",
			e(r.target), e(id), e(r.target), x, y, rw-2, h, r.kind, x+6, y+26, e(r.label), x+6, y+46, e(r.sub))
		x += rw
	}
}

// writeWalkSVG draws the path walk: one box per structure read, in order,
// with arrows from each to the next (inode → directory entry → inode →
// data runs).
func writeWalkSVG(w io.Writer, v *View) {
	e := html.EscapeString
	type box struct{ id, label string }
	var boxes []box
	for _, s := range v.Sections {
		label := s.Title
		if i := strings.Index(label, ":"); i > 0 {
			label = label[:i]
		}
		boxes = append(boxes, box{s.ID, label})
	}
	var runs []box
	if v.Walk != nil {
		for i, r := range v.Walk.Runs {
			if i == 6 {
				runs = append(runs, box{"path.data", fmt.Sprintf("… %d more runs", len(v.Walk.Runs)-i)})
				break
			}
			runs = append(runs, box{"path.data", fmt.Sprintf("blocks %d..%d → sectors %d..%d", r.Block, r.Block+r.Count-1, r.Sector, r.Sector+r.Sectors-1)})
		}
	}
	const bw, bh, gap = 560, 34, 22
	h := len(boxes)*(bh+gap) + 20
	fmt.Fprintf(w, "<figure><svg id=\"walk\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 1000 %d\" role=\"img\" aria-label=\"the path walk\">\n", h)
	fmt.Fprintln(w, `<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0 0 L10 5 L0 10 z"/></marker></defs>`)
	for i, b := range boxes {
		y := 10 + i*(bh+gap)
		fmt.Fprintf(w, "<a href=\"#s-%s\" class=\"region\" data-target=\"s-%s\"><rect x=\"10\" y=\"%d\" width=\"%d\" height=\"%d\" class=\"walk\"/><text x=\"20\" y=\"%d\">%s</text></a>\n", e(b.id), e(b.id), y, bw, bh, y+22, e(b.label))
		if i+1 < len(boxes) {
			fmt.Fprintf(w, "<path d=\"M 60 %d L 60 %d\" class=\"arrow\" marker-end=\"url(#arrow)\"/>\n", y+bh, y+bh+gap)
		}
	}
	if len(runs) > 0 && len(boxes) > 0 {
		// The data runs hang off the box of the final data section.
		yData := 10
		for i, b := range boxes {
			if b.id == "path.data" {
				yData = 10 + i*(bh+gap)
			}
		}
		for i, r := range runs {
			y := 10 + i*(bh+8)
			fmt.Fprintf(w, "<a href=\"#s-%s\" class=\"region\" data-target=\"s-%s\"><rect x=\"640\" y=\"%d\" width=\"350\" height=\"%d\" class=\"data\"/><text x=\"650\" y=\"%d\">%s</text></a>\n", e(r.id), e(r.id), y, bh, y+22, e(r.label))
			fmt.Fprintf(w, "<path d=\"M %d %d L 638 %d\" class=\"arrow\" marker-end=\"url(#arrow)\"/>\n", 10+bw, yData+bh/2, y+bh/2)
		}
	}
	fmt.Fprintln(w, "</svg></figure>")
}

const pageCSS = `
body{font:16px/1.45 system-ui,sans-serif;margin:0;color:#111;background:#fff}
body.large{font-size:26px}
header{padding:12px 24px;background:#eef3f8;border-bottom:1px solid #ccd}
h1{margin:0 0 6px 0;font-size:1.5em}
nav a{margin-right:1em}
main{padding:0 24px 48px 24px}
figure{margin:16px 0}
svg{width:100%;height:auto;font-size:16px}
svg text{pointer-events:none}
svg .sub{font-size:12px;fill:#333}
svg .rowname{font-size:13px;fill:#444}
rect{stroke:#333;stroke-width:1}
rect.mbr{fill:#c9a0dc}rect.embed{fill:#f5d76e}rect.gap{fill:#e6e6e6}rect.part{fill:#8fb8e8}
rect.sb{fill:#f0b27a}rect.grp{fill:#a9dfbf}rect.data{fill:#aed6f1}rect.walk{fill:#fdebd0}
a.region:hover rect,a.region:focus rect{stroke-width:3}
.zoom{stroke:#888;stroke-dasharray:4 3;fill:none}
.arrow{stroke:#333;stroke-width:2;fill:none}
details.sec{border:1px solid #ccd;border-radius:6px;margin:8px 0;padding:4px 12px}
details.sec.current{outline:3px solid #e67e22}
summary{font-weight:600;cursor:pointer}
table{border-collapse:collapse;margin:8px 0;width:100%}
td,th{border-bottom:1px solid #ddd;padding:3px 6px;vertical-align:top;text-align:left}
tr.patched td:first-child::after{content:" *";color:#b9770e}
tr:target{background:#fff3c4}
pre.hex{background:#f7f7f7;padding:8px;overflow-x:auto;font-size:0.9em}
a.fb{color:#1f5fa8;text-decoration:none;font-weight:600}
a.fb.patched{color:#b9770e}
a.ref{color:#1f5fa8}
.na{color:#666}
#panel{font-weight:600;min-height:1.2em;margin:4px 0}
body.only details.sec:not(.current),body.only h2,body.only #walk,body.only .na{display:none}
`

// pageJS opens the structure a region or link points at, highlights it,
// and drives keyboard navigation. ?click=ID on load clicks region r-ID (how
// tests and a teacher's bookmarks open the page on one structure); with
// &only=1 the page shows the layout and that structure alone (projector
// mode: each click replaces it).
const pageJS = `
(function(){
var secs=[].slice.call(document.querySelectorAll('details.sec'));
function show(id){
  var el=document.getElementById(id);
  if(!el){return;}
  var sec=el.tagName==='DETAILS'?el:el.closest('details');
  if(!sec){return;}
  secs.forEach(function(s){s.classList.remove('current');});
  sec.open=true;sec.classList.add('current');
  var p=document.getElementById('panel');
  if(p){p.textContent='showing: '+sec.querySelector('summary').textContent;}
  if(!document.body.classList.contains('only')){el.scrollIntoView({block:'start'});}
}
if(/[?&]only=1/.test(location.search)){document.body.classList.add('only');}
[].slice.call(document.querySelectorAll('a.region')).forEach(function(a){
  a.addEventListener('click',function(ev){ev.preventDefault();var t=a.getAttribute('data-target');history.replaceState(null,'','#'+t);show(t);});
});
[].slice.call(document.querySelectorAll('a.ref,a.fb')).forEach(function(a){
  a.addEventListener('click',function(){var t=a.getAttribute('href').slice(1);if(!document.getElementById(t)){t='s-'+t.slice(2);a.setAttribute('href','#'+t);}setTimeout(function(){show(t);},0);});
});
window.addEventListener('hashchange',function(){show(location.hash.slice(1));});
document.addEventListener('keydown',function(ev){
  if(ev.target.tagName==='INPUT'){return;}
  var cur=secs.findIndex(function(s){return s.classList.contains('current');});
  if(ev.key==='j'||ev.key==='ArrowDown'){ev.preventDefault();var n=secs[Math.min(cur+1,secs.length-1)];show(n.id);n.querySelector('summary').focus();}
  else if(ev.key==='k'||ev.key==='ArrowUp'){ev.preventDefault();var q=secs[Math.max(cur-1,0)];show(q.id);q.querySelector('summary').focus();}
  else if(ev.key==='L'||ev.key==='l'){document.body.classList.toggle('large');}
});
var m=/[?&]click=([^&]+)/.exec(location.search);
if(m){var r=document.getElementById('r-'+decodeURIComponent(m[1]));if(r){r.dispatchEvent(new MouseEvent('click',{bubbles:true,cancelable:true}));}}
else if(location.hash){show(location.hash.slice(1));}
})();
`
