package app

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/holdfast-ci/holdfast/grading/health"
)

// healthcheck asks the App serving on listen (HOLDFAST_LISTEN) whether it is ready: GET /readyz
// must answer 200 within 5 s. It is the container's health check (deploy/compose.yaml), since
// the image has neither curl nor wget.
func healthcheck(ctx context.Context, listen string, stdout io.Writer) error {
	url, err := health.LocalURL(listen, "/readyz")
	if err != nil {
		return fmt.Errorf("health check: HOLDFAST_LISTEN=%w", err)
	}
	return health.Check(ctx, url, 5*time.Second, stdout)
}
