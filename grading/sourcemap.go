package grading

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// sourceMap is a parsed source map (revision 3, as tsc writes it): for each generated line, its
// segments sorted by generated column.
type sourceMap struct {
	sources []string // resolved against the map's own directory and sourceRoot
	lines   [][]mapSegment
}

// mapSegment maps a generated column to a place in a source (all zero-based).
type mapSegment struct {
	genCol, src, line, col int
}

// maxSourceMapBytes bounds what is read of one map: the learner's build writes it.
const maxSourceMapBytes = 16 << 20

// parseSourceMap reads a map found at mapPath (a path in the app's container) and resolves its
// sources against that path.
func parseSourceMap(b []byte, mapPath string) (*sourceMap, error) {
	if len(b) > maxSourceMapBytes {
		return nil, fmt.Errorf("source map %s is %d bytes, more than the %d read", mapPath, len(b), maxSourceMapBytes)
	}
	var raw struct {
		Version    int             `json:"version"`
		SourceRoot string          `json:"sourceRoot"`
		Sources    []string        `json:"sources"`
		Mappings   string          `json:"mappings"`
		Sections   json.RawMessage `json:"sections"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("source map %s: %w", mapPath, err)
	}
	if raw.Version != 3 {
		return nil, fmt.Errorf("source map %s: version %d, want 3", mapPath, raw.Version)
	}
	if len(raw.Sections) > 0 {
		return nil, fmt.Errorf("source map %s is an index map (sections), which tsc does not write", mapPath)
	}
	m := &sourceMap{}
	dir := path.Dir(mapPath)
	for _, s := range raw.Sources {
		m.sources = append(m.sources, resolveSource(dir, raw.SourceRoot, s))
	}
	var src, line, col int // cumulative across the whole mappings string
	for _, group := range strings.Split(raw.Mappings, ";") {
		var segs []mapSegment
		genCol := 0 // resets on each generated line
		for _, field := range strings.Split(group, ",") {
			if field == "" {
				continue
			}
			v, err := decodeVLQ(field)
			if err != nil {
				return nil, fmt.Errorf("source map %s, line %d: %w", mapPath, len(m.lines)+1, err)
			}
			switch len(v) {
			case 1:
				genCol += v[0]
				continue // a generated column mapped to no source
			case 4, 5:
			default:
				return nil, fmt.Errorf("source map %s, line %d: a segment of %d fields, want 1, 4 or 5", mapPath, len(m.lines)+1, len(v))
			}
			genCol += v[0]
			src += v[1]
			line += v[2]
			col += v[3]
			if src < 0 || src >= len(m.sources) || line < 0 || col < 0 || genCol < 0 {
				return nil, fmt.Errorf("source map %s, line %d: a segment points outside the map", mapPath, len(m.lines)+1)
			}
			segs = append(segs, mapSegment{genCol: genCol, src: src, line: line, col: col})
		}
		sort.SliceStable(segs, func(i, j int) bool { return segs[i].genCol < segs[j].genCol })
		m.lines = append(m.lines, segs)
	}
	return m, nil
}

// resolveSource turns a map's source entry into a path in the container, as Node does.
func resolveSource(dir, root, src string) string {
	for _, scheme := range []string{"file://", "webpack://"} {
		src = strings.TrimPrefix(src, scheme)
	}
	if path.IsAbs(src) {
		return path.Clean(src)
	}
	if path.IsAbs(root) {
		return path.Join(root, src)
	}
	return path.Join(dir, root, src)
}

// lookup maps a generated line and column (one-based, as a stack trace prints them) to a source
// path and a one-based line and column: the segment that starts at the column or closest before it.
func (m *sourceMap) lookup(line, col int) (string, int, int, bool) {
	if line < 1 || line > len(m.lines) {
		return "", 0, 0, false
	}
	segs := m.lines[line-1]
	i := sort.Search(len(segs), func(i int) bool { return segs[i].genCol > col-1 }) - 1
	if i < 0 {
		return "", 0, 0, false
	}
	s := segs[i]
	return m.sources[s.src], s.line + 1, s.col + 1, true
}

const vlqChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// decodeVLQ decodes one segment of base64 VLQ numbers.
func decodeVLQ(s string) ([]int, error) {
	var out []int
	value, shift := 0, 0
	for i := 0; i < len(s); i++ {
		d := strings.IndexByte(vlqChars, s[i])
		if d < 0 {
			return nil, fmt.Errorf("%q is not base64 VLQ", s)
		}
		if shift > 30 {
			return nil, fmt.Errorf("%q: a number too large", s)
		}
		value += (d & 31) << shift
		if d&32 != 0 {
			shift += 5
			continue
		}
		n := value >> 1
		if value&1 != 0 {
			n = -n
		}
		out = append(out, n)
		value, shift = 0, 0
	}
	if shift != 0 {
		return nil, fmt.Errorf("%q ends in the middle of a number", s)
	}
	return out, nil
}

// sourceMapOf finds the map of a JavaScript file the app ran: the file's sourceMappingURL
// comment (a data: URL or a path beside it), or else FILE.map. It returns nil and no error when
// the file has no map.
func sourceMapOf(read func(string) ([]byte, error), js string) (*sourceMap, error) {
	mapPath := js + ".map"
	if b, err := read(js); err == nil {
		if url := sourceMappingURL(string(b)); url != "" {
			if data, ok := strings.CutPrefix(url, "data:"); ok {
				_, enc, ok := strings.Cut(data, ";base64,")
				if !ok {
					return nil, fmt.Errorf("%s: an inline source map that is not base64", js)
				}
				raw, err := base64.StdEncoding.DecodeString(enc)
				if err != nil {
					return nil, fmt.Errorf("%s: inline source map: %w", js, err)
				}
				return parseSourceMap(raw, js)
			}
			mapPath = resolveSource(path.Dir(js), "", url)
		}
	}
	b, err := read(mapPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return parseSourceMap(b, mapPath)
}

// sourceMappingURL returns the last sourceMappingURL comment of a script, "" when none.
func sourceMappingURL(js string) string {
	i := strings.LastIndex(js, "//# sourceMappingURL=")
	if i < 0 {
		return ""
	}
	url := js[i+len("//# sourceMappingURL="):]
	if j := strings.IndexAny(url, " \t\r\n"); j >= 0 {
		url = url[:j]
	}
	return url
}
