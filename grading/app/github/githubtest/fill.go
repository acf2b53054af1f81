package githubtest

import (
	"encoding/json"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// filler completes the fake's answers so they are valid instances of GitHub's response
// schemas. Handlers set the fields a client reads (ids, names, states, the URLs that matter);
// GitHub's objects require dozens more (a full-repository requires 73 properties, most of them
// URL templates), which are filled with placeholders of the documented type: null where the
// schema allows it, else a zero value, the first enum value, a timestamp or a URL under the
// fake's address.
type filler struct {
	base string // the fake's URL, for placeholder URLs
	now  string // RFC 3339, for placeholder timestamps
}

// maxFillDepth bounds the recursion of required objects inside required objects.
const maxFillDepth = 24

// complete returns v, a JSON value (maps, slices, strings, float64, bools, nil) with every
// property that schema requires but v lacks filled in, recursively.
func (f filler) complete(s *openapi3.Schema, v any, depth int) any {
	if s == nil || depth > maxFillDepth {
		return v
	}
	if v == nil {
		if s.Nullable {
			return nil
		}
		return f.placeholder(s, "", depth)
	}
	for _, sub := range s.AllOf {
		v = f.complete(sub.Value, v, depth+1)
	}
	if alt := bestAlternative(s, v); alt != nil {
		v = f.complete(alt, v, depth+1)
	}
	switch x := v.(type) {
	case map[string]any:
		for _, name := range s.Required {
			if _, ok := x[name]; !ok {
				if p := s.Properties[name]; p != nil {
					x[name] = f.placeholder(p.Value, name, depth+1)
				}
			}
		}
		for name, val := range x {
			if p := s.Properties[name]; p != nil {
				x[name] = f.complete(p.Value, val, depth+1)
			} else if ap := s.AdditionalProperties.Schema; ap != nil {
				x[name] = f.complete(ap.Value, val, depth+1)
			}
		}
	case []any:
		if s.Items != nil {
			for i := range x {
				x[i] = f.complete(s.Items.Value, x[i], depth+1)
			}
		}
	}
	return v
}

// placeholder is a value for a required property the handler did not set.
func (f filler) placeholder(s *openapi3.Schema, name string, depth int) any {
	if s == nil || s.Nullable {
		return nil
	}
	if len(s.AllOf) > 0 {
		m := map[string]any{}
		return f.complete(s, m, depth)
	}
	if len(s.OneOf) > 0 {
		return f.placeholder(s.OneOf[0].Value, name, depth+1)
	}
	if len(s.AnyOf) > 0 {
		return f.placeholder(s.AnyOf[0].Value, name, depth+1)
	}
	if len(s.Enum) > 0 {
		return s.Enum[0]
	}
	switch {
	case s.Type.Is(openapi3.TypeString):
		switch s.Format {
		case "date-time":
			return f.now
		case "date":
			return f.now[:len("2006-01-02")]
		case "uri":
			return f.base + "/_placeholder/" + name
		case "email":
			return "noreply@example.com"
		}
		return strings.Repeat("x", int(s.MinLength))
	case s.Type.Is(openapi3.TypeInteger), s.Type.Is(openapi3.TypeNumber):
		if s.Min != nil {
			return *s.Min
		}
		return 0
	case s.Type.Is(openapi3.TypeBoolean):
		return false
	case s.Type.Is(openapi3.TypeArray):
		return []any{}
	case s.Type.Is(openapi3.TypeObject), len(s.Properties) > 0:
		return f.complete(s, map[string]any{}, depth)
	}
	return ""
}

// bestAlternative picks the oneOf/anyOf branch v is meant to be: for an object, the branch
// whose required properties v has most of; otherwise the first branch of v's type.
func bestAlternative(s *openapi3.Schema, v any) *openapi3.Schema {
	alts := append(append(openapi3.SchemaRefs{}, s.OneOf...), s.AnyOf...)
	var best *openapi3.Schema
	bestScore := -1 << 30
	for _, ref := range alts {
		alt := ref.Value
		if alt == nil {
			continue
		}
		score := 0
		switch x := v.(type) {
		case map[string]any:
			if !alt.Type.Permits(openapi3.TypeObject) {
				continue
			}
			for _, name := range alt.Required {
				if _, ok := x[name]; ok {
					score++
				} else {
					score--
				}
			}
		case string:
			if !alt.Type.Permits(openapi3.TypeString) {
				continue
			}
		case []any:
			if !alt.Type.Permits(openapi3.TypeArray) {
				continue
			}
		}
		if score > bestScore {
			best, bestScore = alt, score
		}
	}
	return best
}

// jsonValue turns a handler's body (structs, typed maps) into plain JSON values.
func jsonValue(body any) (any, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	var v any
	err = json.Unmarshal(data, &v)
	return v, err
}
