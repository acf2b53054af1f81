package compare

import (
	"regexp"
	"strings"
)

// TypeScript, JavaScript and Python are measured by line-based heuristics, not parsers: they
// need no toolchain and are right for the code learners write, and wrong in ways that are the
// same on base and head, so the deltas stay meaningful.
//
// TypeScript / JavaScript: comments and string contents are removed first. A function starts at
// a line with `function name(`, `name = (…) => {` / `name: (…) => {`, another `=> {`, or a
// method head `name(…) {` (not if/for/while/switch/catch); it extends to the brace that closes
// the first `{` from there. Complexity is 1 + if, for, while, case, catch, &&, ||, ?? and ?:
// inside it. Tests are it(…)/test(…) calls in *.test.* / *.spec.* files or under __tests__/.
//
// Python: comments, string contents and docstrings are removed. A function is a `def` line and
// every following line indented deeper (methods are named Class.method). Complexity is 1 + if,
// elif, for, while, except, case, and, or inside it. Tests are def test_… in test_*.py /
// *_test.py files.

var (
	tsFunction = regexp.MustCompile(`\bfunction\b\s*\*?\s*([A-Za-z_$][\w$]*)?\s*[<(]`)
	tsNamedArr = regexp.MustCompile(`([A-Za-z_$][\w$]*)\s*[:=]\s*(?:async\s+)?(?:\([^()]*\)|[A-Za-z_$][\w$]*)\s*(?::\s*[^=]+)?=>\s*\{`)
	tsArrow    = regexp.MustCompile(`=>\s*\{`)
	tsMethod   = regexp.MustCompile(`^\s*(?:(?:public|private|protected|static|async|readonly|override|get|set)\s+)*([A-Za-z_$][\w$]*)\s*(?:<[^>]*>)?\s*\([^;]*\)\s*(?::\s*[^{;]+)?\{`)
	tsBranch   = regexp.MustCompile(`\bif\b|\bfor\b|\bwhile\b|\bcase\b|\bcatch\b|&&|\|\||\?\?|\?[^.?:\]]`)
	tsTest     = regexp.MustCompile(`^\s*(?:it|test)(?:\.\w+)?\s*\(`)
	tsKeywords = map[string]bool{"if": true, "for": true, "while": true, "switch": true, "catch": true, "function": true,
		"return": true, "with": true, "do": true, "else": true, "constructor": false}

	pyDef    = regexp.MustCompile(`^(\s*)(?:async\s+)?def\s+(\w+)\s*\(`)
	pyClass  = regexp.MustCompile(`^(\s*)class\s+(\w+)`)
	pyBranch = regexp.MustCompile(`\bif\b|\belif\b|\bfor\b|\bwhile\b|\bexcept\b|\bcase\b|\band\b|\bor\b`)
	pyTest   = regexp.MustCompile(`^\s*(?:async\s+)?def\s+test_?\w*\s*\(`)
)

// stripC removes comments and string contents from C-like source, line by line, keeping the
// line count: what is left is code to count braces and branches in.
func stripC(lines []string) []string {
	out := make([]string, len(lines))
	inBlock := false
	var quote byte // inside a string that continues on the next line (template literals)
	for i, l := range lines {
		var b strings.Builder
		for j := 0; j < len(l); j++ {
			c := l[j]
			switch {
			case inBlock:
				if c == '*' && j+1 < len(l) && l[j+1] == '/' {
					inBlock = false
					j++
				}
			case quote != 0:
				if c == '\\' {
					j++
				} else if c == quote {
					quote = 0
					b.WriteByte(c)
				}
			case c == '/' && j+1 < len(l) && l[j+1] == '/':
				j = len(l)
			case c == '/' && j+1 < len(l) && l[j+1] == '*':
				inBlock = true
				j++
			case c == '"' || c == '\'' || c == '`':
				quote = c
				b.WriteByte(c)
			default:
				b.WriteByte(c)
			}
		}
		if quote == '"' || quote == '\'' {
			quote = 0 // an unterminated ordinary string ends with its line
		}
		out[i] = b.String()
	}
	return out
}

// measureBraces measures TypeScript and JavaScript.
func measureBraces(f *source) {
	code := stripC(f.lines)
	for _, l := range code {
		if strings.TrimSpace(l) != "" {
			f.code++
		}
	}
	if f.test {
		for _, l := range code {
			if tsTest.MatchString(l) {
				f.tests++
			}
		}
		return
	}
	for i, l := range code {
		name, at, ok := tsFuncStart(l)
		if !ok {
			continue
		}
		end := closeBrace(code, i, at)
		if end < 0 {
			continue
		}
		c := 1
		for _, body := range code[i : end+1] {
			c += len(tsBranch.FindAllString(body, -1))
		}
		f.funcs = append(f.funcs, Func{Name: name, Line: i + 1, Lines: end - i + 1, Complexity: c})
	}
}

// tsFuncStart finds a function head on a line: its name and where to look for its body's brace.
func tsFuncStart(l string) (name string, at int, ok bool) {
	if m := tsFunction.FindStringSubmatchIndex(l); m != nil {
		name = "function"
		if m[2] >= 0 {
			name = l[m[2]:m[3]]
		}
		return name, m[0], true
	}
	if m := tsNamedArr.FindStringSubmatchIndex(l); m != nil {
		return l[m[2]:m[3]], m[0], true
	}
	if m := tsMethod.FindStringSubmatchIndex(l); m != nil {
		if n := l[m[2]:m[3]]; !tsKeywords[n] {
			return n, m[0], true
		}
	}
	if m := tsArrow.FindStringIndex(l); m != nil {
		return "arrow function", m[0], true
	}
	return "", 0, false
}

// closeBrace returns the line holding the brace that closes the first { at or after
// lines[start][at:], or -1.
func closeBrace(lines []string, start, at int) int {
	depth, opened := 0, false
	for i := start; i < len(lines) && i < start+5000; i++ {
		l := lines[i]
		if i == start {
			l = l[at:]
		}
		for j := 0; j < len(l); j++ {
			switch l[j] {
			case '{':
				depth++
				opened = true
			case '}':
				depth--
				if opened && depth == 0 {
					return i
				}
			}
		}
		if !opened && i > start+3 {
			return -1 // a head without a body nearby: a declaration, not a function
		}
	}
	return -1
}

// stripPython removes comments, string contents and docstrings, keeping the line count.
func stripPython(lines []string) []string {
	out := make([]string, len(lines))
	var triple string // inside a triple-quoted string
	for i, l := range lines {
		var b strings.Builder
		for j := 0; j < len(l); j++ {
			if triple != "" {
				if strings.HasPrefix(l[j:], triple) {
					j += 2
					triple = ""
				}
				continue
			}
			c := l[j]
			switch {
			case c == '#':
				j = len(l)
			case strings.HasPrefix(l[j:], `"""`) || strings.HasPrefix(l[j:], `'''`):
				triple = l[j : j+3]
				j += 2
			case c == '"' || c == '\'':
				k := j + 1
				for k < len(l) && l[k] != c {
					if l[k] == '\\' {
						k++
					}
					k++
				}
				b.WriteString(`""`)
				j = k
			default:
				b.WriteByte(c)
			}
		}
		out[i] = b.String()
	}
	return out
}

// measurePython measures Python.
func measurePython(f *source) {
	code := stripPython(f.lines)
	for _, l := range code {
		if strings.TrimSpace(l) != "" {
			f.code++
		}
	}
	if f.test {
		for _, l := range code {
			if pyTest.MatchString(l) {
				f.tests++
			}
		}
		return
	}
	type class struct {
		indent int
		name   string
	}
	var classes []class
	for i, l := range code {
		if strings.TrimSpace(l) == "" {
			continue
		}
		ind := indent(l)
		for len(classes) > 0 && ind <= classes[len(classes)-1].indent {
			classes = classes[:len(classes)-1]
		}
		if m := pyClass.FindStringSubmatch(l); m != nil {
			classes = append(classes, class{indent: ind, name: m[2]})
			continue
		}
		m := pyDef.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		name := m[2]
		if len(classes) > 0 {
			name = classes[len(classes)-1].name + "." + name
		}
		end := i
		for j := i + 1; j < len(code); j++ {
			if strings.TrimSpace(code[j]) == "" {
				continue
			}
			if indent(code[j]) <= ind {
				break
			}
			end = j
		}
		c := 1
		for _, body := range code[i : end+1] {
			c += len(pyBranch.FindAllString(body, -1))
		}
		f.funcs = append(f.funcs, Func{Name: name, Line: i + 1, Lines: end - i + 1, Complexity: c})
	}
}

func indent(l string) int {
	n := 0
	for _, c := range l {
		switch c {
		case ' ':
			n++
		case '\t':
			n += 8 - n%8
		default:
			return n
		}
	}
	return n
}
