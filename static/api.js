/**
 * api.js holds the one way the pages call the JSON API.
 */

/**
 * postJSON sends body as JSON to url and returns the response with its
 * decoded JSON body ({} when there is none). A network failure throws.
 * @param {string} url
 * @param {object} body
 * @returns {Promise<{res: Response, data: object}>}
 */
export async function postJSON(url, body) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify(body),
  });
  const data = await res.json().catch(() => ({}));
  return { res, data };
}
