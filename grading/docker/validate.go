package docker

import "fmt"

// Validate reports the first setting of c (with its defaults) that New refuses before it asks
// the engine anything, naming the variable that sets it; a command's configuration checks it at
// start-up, before any work.
func (c Config) Validate() error {
	c = c.Defaults()
	if !namespaceRE.MatchString(c.Namespace) {
		return fmt.Errorf("sandbox namespace %q (HOLDFAST_NAMESPACE): use 1 to 63 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit", c.Namespace)
	}
	return c.Build.validate()
}
