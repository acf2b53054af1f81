package compare

import (
	"hash/fnv"
	"strings"
	"unicode"
)

// DupWindow is how many consecutive normalised lines make a duplicated block.
const DupWindow = 6

// duplicates finds runs of DupWindow or more normalised lines that appear more than once in the
// tree's non-test files. Normalising trims and collapses whitespace and drops blank lines,
// comment lines and lines with fewer than three letters or digits (a lone brace), so a block
// copied and re-indented still counts. It returns the duplicated lines and the runs.
func duplicates(files []source) (lines, blocks int) {
	norm := make([][]string, len(files))
	for i, f := range files {
		if f.test {
			continue
		}
		for _, l := range f.lines {
			if n := normalise(l); n != "" {
				norm[i] = append(norm[i], n)
			}
		}
	}
	seen := map[uint64]int{}
	hashes := make([][]uint64, len(files))
	for i, ls := range norm {
		for j := 0; j+DupWindow <= len(ls); j++ {
			h := fnv.New64a()
			for _, l := range ls[j : j+DupWindow] {
				h.Write([]byte(l))
				h.Write([]byte{'\n'})
			}
			sum := h.Sum64()
			hashes[i] = append(hashes[i], sum)
			seen[sum]++
		}
	}
	for i, hs := range hashes {
		marked := make([]bool, len(norm[i]))
		for j, h := range hs {
			if seen[h] > 1 {
				for k := j; k < j+DupWindow; k++ {
					marked[k] = true
				}
			}
		}
		in := false
		for _, m := range marked {
			if m {
				lines++
				if !in {
					blocks++
				}
			}
			in = m
		}
	}
	return lines, blocks
}

func normalise(l string) string {
	t := strings.TrimSpace(l)
	for _, c := range []string{"//", "#", "/*", "*", "--"} {
		if strings.HasPrefix(t, c) {
			return ""
		}
	}
	alnum := 0
	for _, r := range t {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			alnum++
		}
	}
	if alnum < 3 {
		return ""
	}
	return strings.Join(strings.Fields(t), " ")
}
