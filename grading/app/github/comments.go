package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	gh "github.com/google/go-github/v66/github"
)

// Marker is the hidden line that makes a comment Holdfast's sticky comment for a challenge.
func Marker(challenge string) string {
	return fmt.Sprintf("<!-- holdfast:report challenge=%s -->", challenge)
}

// UpsertStickyComment writes body into the pull request's sticky comment for the marker: the
// known comment if it still exists, else the first comment by the App's bot that carries the
// marker, else a new one. It returns the comment's id. Callers take turns per pull request and
// challenge (store.ClaimComment's lease), so two gradings finishing at once never both make one.
func (i *Installation) UpsertStickyComment(ctx context.Context, owner, repo string, pr int, marker, body string, knownID int64) (int64, error) {
	body = fitComment(marker + "\n" + body)
	if knownID != 0 {
		_, _, err := i.client.Issues.EditComment(ctx, owner, repo, knownID, &gh.IssueComment{Body: gh.String(body)})
		if err == nil {
			return knownID, nil
		}
		var ghErr *gh.ErrorResponse
		if !errors.As(err, &ghErr) || ghErr.Response.StatusCode != http.StatusNotFound {
			return 0, fmt.Errorf("update comment %d: %w", knownID, err)
		}
		// Deleted by someone: find or create it again.
	}
	bot, err := i.BotLogin(ctx)
	if err != nil {
		return 0, err
	}
	opts := &gh.IssueListCommentsOptions{ListOptions: gh.ListOptions{PerPage: 100}}
	for page := 0; page < 50; page++ {
		cs, resp, err := i.client.Issues.ListComments(ctx, owner, repo, pr, opts)
		if err != nil {
			return 0, fmt.Errorf("list comments of #%d: %w", pr, err)
		}
		for _, c := range cs {
			if c.GetUser().GetLogin() == bot && strings.Contains(c.GetBody(), marker) {
				if _, _, err := i.client.Issues.EditComment(ctx, owner, repo, c.GetID(), &gh.IssueComment{Body: gh.String(body)}); err != nil {
					return 0, fmt.Errorf("update comment %d: %w", c.GetID(), err)
				}
				return c.GetID(), nil
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	c, _, err := i.client.Issues.CreateComment(ctx, owner, repo, pr, &gh.IssueComment{Body: gh.String(body)})
	if err != nil {
		return 0, fmt.Errorf("comment on #%d: %w", pr, err)
	}
	return c.GetID(), nil
}

// MaxComment is GitHub's limit on a comment's body, in characters.
const MaxComment = 65536

// fitComment cuts body to GitHub's limit, at a character boundary, and says so at the end. The
// limit counts characters; bytes are counted here, which is stricter.
func fitComment(body string) string {
	if len(body) <= MaxComment {
		return body
	}
	note := "\n\n…cut here to fit GitHub's limit of 65536 characters for a comment; the check run's Details page has the whole report.\n"
	cut := body[:MaxComment-len(note)-len("\n```")]
	for !utf8.ValidString(cut) { // never split a character
		cut = cut[:len(cut)-1]
	}
	if strings.Count(cut, "```")%2 == 1 {
		cut += "\n```" // close an open code fence
	}
	return cut + note
}
