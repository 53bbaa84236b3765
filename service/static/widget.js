// article-qa chat widget. One tag embeds it:
//   <script src="https://HOST/widget.js" data-article-id="default" async></script>
// The article asked about: data-article-id names a stored article; else it is named by URL:
// data-article-url (relative to the page; present but empty: this page), else the page's
// <link rel="canonical">; with neither, the default article. By URL, the server finds the article
// stored under it (or fetches it, from a host it allows) and the first answer's article_id is
// used from then on.
// Optional: data-api (API base URL; defaults to this script's origin) and data-article-selector
// (the element holding the article text, for highlighting; defaults to [data-article-qa-text]).
//
// No framework and no build step. Everything renders inside the shadow root of one
// <article-qa-chat> element, so the host page's CSS and ours never meet; the only global name is
// window.ArticleQA. Server and reader text is only ever inserted as Text nodes, never as markup.
(() => {
  "use strict";

  // Loaded twice (two tags, or a tag manager re-injecting it): the first copy is already running.
  if (window.ArticleQA) return;
  window.ArticleQA = Object.freeze({ version: "1.0.0" });

  const TAG = "article-qa-chat";
  const HIGHLIGHT = "article-qa-citation";
  const HIGHLIGHT_COLOR = "#ffe08a";
  // The words of the quote that answer the question (a citation's answer_span): painted over the
  // sentence's highlight, darker and underlined (::highlight cannot change font-weight).
  const ANSWER_HIGHLIGHT = "article-qa-answer";
  const ANSWER_HIGHLIGHT_COLOR = "#fbbf24";
  const HISTORY_LIMIT = 10;
  const TOP_K = 3;
  const TIMEOUT_MS = 30000;

  // document.currentScript is only set while this file first runs, so read the tag's settings now;
  // they become the attributes of the element (api, article-selector, and article-id or
  // article-url: see namedArticle).
  const script = document.currentScript;
  const DATA = script?.dataset ?? {};
  const SETTINGS = {
    api: DATA.api || (script?.src ? new URL(script.src).origin : location.origin),
    "article-selector": DATA.articleSelector || "[data-article-qa-text]",
  };

  const STYLE = `
    :host { all: initial; }
    * { box-sizing: border-box; }
    [hidden] { display: none !important; }
    .launcher, .panel {
      position: fixed; z-index: 2147483000;
      font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
      color: #1f2328;
    }
    button, input { font: inherit; color: inherit; }
    :focus-visible { outline: 3px solid #f59e0b; outline-offset: 2px; }
    .launcher {
      right: 20px; bottom: 20px; display: flex; align-items: center; gap: 8px;
      min-height: 48px; padding: 0 20px 0 16px; border: 0; border-radius: 24px;
      background: #1d4ed8; color: #fff; font-weight: 600; cursor: pointer;
      box-shadow: 0 6px 20px rgb(15 23 42 / 0.25);
    }
    .launcher:hover { background: #1e40af; }
    .launcher svg { width: 20px; height: 20px; flex: none; }
    .panel {
      right: 20px; bottom: 20px; width: min(400px, calc(100vw - 40px));
      height: min(600px, calc(100vh - 40px)); display: flex; flex-direction: column;
      background: #fff; border: 1px solid #d0d7de; border-radius: 16px; overflow: hidden;
      box-shadow: 0 12px 40px rgb(15 23 42 / 0.28);
    }
    header {
      display: flex; align-items: center; justify-content: space-between; gap: 8px;
      padding: 10px 8px 10px 16px; background: #1d4ed8; color: #fff;
    }
    h2 { margin: 0; font-size: 16px; font-weight: 600; }
    .close {
      width: 40px; height: 40px; border: 0; border-radius: 8px; background: transparent;
      color: #fff; font-size: 24px; line-height: 1; cursor: pointer;
    }
    .close:hover { background: rgb(255 255 255 / 0.15); }
    .log {
      position: relative; /* the offsetParent of messages, for #scrollLog */
      flex: 1; overflow-y: auto; overscroll-behavior: contain; padding: 16px;
      display: flex; flex-direction: column; gap: 12px; background: #f6f8fa;
    }
    .msg { max-width: 92%; padding: 10px 12px; border-radius: 12px; overflow-wrap: anywhere; }
    .msg p { margin: 0; }
    .hint { align-self: stretch; max-width: none; color: #57606a; background: none; padding: 0; }
    .user { align-self: flex-end; background: #1d4ed8; color: #fff; border-bottom-right-radius: 4px;
      white-space: pre-wrap; }
    .bot { align-self: flex-start; background: #fff; border: 1px solid #d0d7de;
      border-bottom-left-radius: 4px; }
    .label { display: block; margin-bottom: 4px; font-size: 12px; font-weight: 600;
      letter-spacing: 0.02em; text-transform: uppercase; color: #57606a; }
    .quote { margin: 0; padding-left: 10px; border-left: 3px solid #1d4ed8; }
    .cite {
      display: inline-flex; align-items: center; justify-content: center; min-width: 24px;
      height: 24px; margin: 0 2px; padding: 0 6px; border: 1px solid #1d4ed8; border-radius: 12px;
      background: #e8eeff; color: #1d4ed8; font-size: 12px; font-weight: 700; cursor: pointer;
      vertical-align: 1px;
    }
    .cite:hover, .cite[aria-expanded="true"] { background: #1d4ed8; color: #fff; }
    .source { margin-top: 10px; padding: 8px 10px; border-radius: 8px; background: #f6f8fa;
      font-size: 14px; }
    .source .label { margin: 0; font-size: 13px; font-weight: 500; letter-spacing: 0;
      text-transform: none; }
    .source p { margin-top: 4px; }
    .source mark { background: ${HIGHLIGHT_COLOR}; color: inherit; padding: 0 1px; }
    .quote strong, .source strong { font-weight: 700; }
    .declined details { margin-top: 8px; font-size: 14px; color: #57606a; }
    .declined summary { cursor: pointer; }
    .declined ul { margin: 6px 0 0; padding-left: 18px; }
    .declined li + li { margin-top: 4px; }
    .error { border-color: #cf222e; background: #fff5f5; }
    .retry {
      margin-top: 8px; min-height: 32px; padding: 0 14px; border: 1px solid #cf222e;
      border-radius: 8px; background: #fff; color: #a40e26; font-weight: 600; cursor: pointer;
    }
    .thinking { color: #57606a; display: flex; align-items: center; gap: 8px; }
    .dots { display: inline-flex; gap: 3px; }
    .dots i { width: 6px; height: 6px; border-radius: 50%; background: #8c959f;
      animation: blink 1.2s infinite ease-in-out; }
    .dots i:nth-child(2) { animation-delay: 0.2s; }
    .dots i:nth-child(3) { animation-delay: 0.4s; }
    @keyframes blink { 0%, 80%, 100% { opacity: 0.25; } 40% { opacity: 1; } }
    form { display: flex; gap: 8px; padding: 12px; border-top: 1px solid #d0d7de;
      background: #fff; }
    input {
      flex: 1; min-width: 0; min-height: 44px; padding: 0 12px; border: 1px solid #8c959f;
      border-radius: 10px; font-size: 16px; background: #fff;
    }
    input:focus-visible { outline-offset: 0; }
    .send {
      min-width: 64px; min-height: 44px; padding: 0 16px; border: 0; border-radius: 10px;
      background: #1d4ed8; color: #fff; font-weight: 600; cursor: pointer;
    }
    .send:disabled { background: #8c959f; cursor: default; }
    /* Phones: a bottom sheet over the lower part of the page, leaving the article visible above. */
    @media (max-width: 480px) {
      .launcher { right: 12px; bottom: 12px; }
      .panel { left: 0; right: 0; bottom: 0; width: auto; height: 62vh; height: 62dvh;
        border-width: 1px 0 0; border-radius: 16px 16px 0 0; }
      header { padding: 4px 4px 4px 16px; }
      .log { padding: 12px; }
      .msg { max-width: 96%; }
    }
    @media (prefers-reduced-motion: reduce) {
      *, *::before, *::after { animation: none !important; transition: none !important; }
    }
  `;

  /** Build an element; string children become Text nodes, so server text is never parsed. */
  function h(tag, attributes = {}, ...children) {
    const element = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
      else if (value === true) element.setAttribute(name, "");
      else if (value !== false && value != null) element.setAttribute(name, value);
    }
    element.append(...children.filter((child) => child != null));
    return element;
  }

  function chatIcon() {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    const path = document.createElementNS(ns, "path");
    path.setAttribute("fill", "currentColor");
    path.setAttribute(
      "d",
      "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2zm3 6v2h2V9H7zm4 0v2h2V9h-2zm4 0v2h2V9h-2z",
    );
    svg.append(path);
    return svg;
  }

  const reducedMotion = () => matchMedia("(prefers-reduced-motion: reduce)").matches;

  // ---- Offsets -> DOM ranges -------------------------------------------------------------------
  // API offsets count Unicode code points (Python string indices); DOM offsets count UTF-16 units.

  function codePoints(text) {
    let count = 0;
    for (const _ of text) count += 1;
    return count;
  }

  function utf16Index(text, points) {
    let index = 0;
    for (const char of text) {
      if (points-- <= 0) break;
      index += char.length;
    }
    return index;
  }

  /** Where a citation's answer_span lies in its quote, in code points from the quote's start:
   * { from, to }, or null when there is none or it does not line up with the quote (then the
   * quote is shown as it is, with nothing in bold). */
  function spanInQuote(citation) {
    const span = citation.answer_span;
    if (!span || !Number.isInteger(span.start) || !Number.isInteger(span.end)) return null;
    if (typeof span.text !== "string" || typeof citation.quote !== "string") return null;
    const from = span.start - citation.start;
    const to = span.end - citation.start;
    if (from < 0 || to <= from || span.end > citation.end) return null;
    const quote = Array.from(citation.quote);
    return quote.slice(from, to).join("") === span.text ? { from, to } : null;
  }

  /** `text` as Text nodes with the code points [from, to) in a <strong>; without a span, the
   * text alone. */
  const emphasised = (text, span) => {
    if (!span) return [text];
    const points = Array.from(text);
    return [
      points.slice(0, span.from).join(""),
      h("strong", {}, points.slice(span.from, span.to).join("")),
      points.slice(span.to).join(""),
    ];
  };

  function textNodes(root) {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, {
      acceptNode: (node) =>
        node.parentElement?.closest("script, style, noscript, template")
          ? NodeFilter.FILTER_REJECT
          : NodeFilter.FILTER_ACCEPT,
    });
    const nodes = [];
    for (let node = walker.nextNode(); node; node = walker.nextNode()) nodes.push(node);
    return nodes;
  }

  function nodeRange(node, from, to) {
    const range = document.createRange();
    range.setStart(node, from);
    range.setEnd(node, to);
    return range;
  }

  /** Exact mapping: blocks carry data-start, the offset of their first character in the text. */
  function rangesByOffsets(container, start, end) {
    const ranges = [];
    for (const block of container.querySelectorAll("[data-start]")) {
      let offset = Number(block.dataset.start);
      if (!Number.isInteger(offset)) continue;
      for (const node of textNodes(block)) {
        const length = codePoints(node.data);
        const from = Math.max(start, offset);
        const to = Math.min(end, offset + length);
        if (from < to) {
          ranges.push(
            nodeRange(
              node,
              utf16Index(node.data, from - offset),
              utf16Index(node.data, to - offset),
            ),
          );
        }
        offset += length;
      }
    }
    return ranges;
  }

  const squash = (text) => text.replace(/\s+/g, " ").trim();

  /** One range per text node over origin[from, to) (see rangesByText). */
  function originRanges(origin, from, to) {
    const ranges = [];
    let current = null;
    for (const [node, index] of origin.slice(from, to)) {
      if (current?.node !== node) {
        current = { node, from: index, to: index + 1 };
        ranges.push(current);
      }
      current.to = index + 1;
    }
    return ranges.map(({ node, from, to }) => nodeRange(node, from, to));
  }

  /** Fallback for pages that render the article their own way: find the quote in the text,
   * treating any run of whitespace as one space (markup reflows whitespace freely). `span`
   * (code points into the quote, from spanInQuote) is located inside the match the same way.
   * Returns { quote, answer } ranges; answer is empty without a span. */
  function rangesByText(container, quote, span = null) {
    const needle = squash(quote);
    let flat = "";
    const origin = []; // origin[i] = [text node, UTF-16 index] of flat[i]
    for (const node of textNodes(container)) {
      for (let i = 0; i < node.data.length; i += 1) {
        const space = /\s/.test(node.data[i]);
        if (space && flat.endsWith(" ")) continue;
        flat += space ? " " : node.data[i];
        origin.push([node, i]);
      }
    }
    const found = needle ? flat.indexOf(needle) : -1;
    if (found < 0) return { quote: [], answer: [] };
    const ranges = { quote: originRanges(origin, found, found + needle.length), answer: [] };
    if (span) {
      // The span's place in the squashed quote: after the squashed text before it, or one
      // further when the span itself starts with the whitespace that separates the two.
      const before = quote.slice(0, utf16Index(quote, span.from)).trimStart().replace(/\s+/g, " ");
      const words = squash(Array.from(quote).slice(span.from, span.to).join(""));
      const at = words ? needle.indexOf(words, before.length) : -1;
      if (at === before.length || at === before.length + 1) {
        ranges.answer = originRanges(origin, found + at, found + at + words.length);
      }
    }
    return ranges;
  }

  /** The ranges of a citation's quote and of its answer_span (empty when it has none). */
  function citationRanges(container, citation) {
    const span = spanInQuote(citation);
    const byOffsets = rangesByOffsets(container, citation.start, citation.end);
    // Trust offsets only when they land on the quote: a page may render a different text version.
    if (squash(byOffsets.map(String).join("")) !== squash(citation.quote)) {
      return rangesByText(container, citation.quote, span);
    }
    const answer = span
      ? rangesByOffsets(container, citation.answer_span.start, citation.answer_span.end)
      : [];
    const lined = span && squash(answer.map(String).join("")) === squash(citation.answer_span.text);
    return { quote: byOffsets, answer: lined ? answer : [] };
  }

  // ---- Highlighting in the host page -----------------------------------------------------------
  // The CSS Custom Highlight API paints ranges without touching the page's DOM. It needs
  // document-level rules, which only style our own two named highlights: the quote, and over it
  // the words that answer the question. Without the API, <mark> elements with inline styles wrap
  // each text node's part of the quote; that fallback marks only the quote, not the answer's
  // words (nesting a second element would split the page's text nodes further for little gain).

  let highlightStyled = false;
  let clearHighlight = () => {};

  /** Highlight the quote's ranges, and the answer_span's (`answer`, inside them) more strongly. */
  function highlight(ranges, answer = []) {
    clearHighlight();
    if (window.CSS?.highlights && window.Highlight) {
      if (!highlightStyled) {
        const sheet = new CSSStyleSheet();
        sheet.replaceSync(
          `::highlight(${HIGHLIGHT}) { background-color: ${HIGHLIGHT_COLOR}; color: #1f2328; }
          ::highlight(${ANSWER_HIGHLIGHT}) { background-color: ${ANSWER_HIGHLIGHT_COLOR};
            color: #1f2328; text-decoration: underline; text-decoration-thickness: 2px; }`,
        );
        document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
        highlightStyled = true;
      }
      CSS.highlights.set(HIGHLIGHT, new Highlight(...ranges));
      if (answer.length) {
        const words = new Highlight(...answer);
        words.priority = 1; // painted over the quote's highlight
        CSS.highlights.set(ANSWER_HIGHLIGHT, words);
      }
      clearHighlight = () => {
        CSS.highlights.delete(HIGHLIGHT);
        CSS.highlights.delete(ANSWER_HIGHLIGHT);
      };
      return;
    }
    const marks = ranges.map((range) => {
      const mark = h("mark", { "data-article-qa": HIGHLIGHT });
      mark.style.cssText = `background: ${HIGHLIGHT_COLOR}; color: #1f2328; padding: 0;`;
      range.surroundContents(mark); // each range lies within one text node, so this cannot throw
      return mark;
    });
    clearHighlight = () => {
      for (const mark of marks) {
        const parent = mark.parentNode;
        mark.replaceWith(...mark.childNodes);
        parent?.normalize(); // re-join the split text nodes so later offsets walk the same nodes
      }
    };
  }

  /** Scroll the page so the range sits in the middle of what the panel leaves visible. */
  function scrollToRange(range, panel) {
    const target = range.getBoundingClientRect();
    const covering = panel.getBoundingClientRect();
    const overlaps = !panel.hidden && covering.left < target.right && covering.right > target.left;
    const visibleBottom = overlaps ? covering.top : window.innerHeight;
    window.scrollBy({
      top: target.top + target.height / 2 - visibleBottom / 2,
      behavior: reducedMotion() ? "instant" : "smooth",
    });
  }

  // ---- Talking to the API ----------------------------------------------------------------------

  class RequestFailed extends Error {
    constructor(message, retryable) {
      super(message);
      this.retryable = retryable;
    }
  }

  async function failure(response) {
    if (response.status === 429) {
      return new RequestFailed("Too many questions at once. Wait a moment, then retry.", true);
    }
    if (response.status === 503) {
      return new RequestFailed("The assistant is still starting up. Retry in a few seconds.", true);
    }
    if (response.status >= 500) {
      return new RequestFailed("Something went wrong on the server. Please retry.", true);
    }
    // Other refusals (422, 404, 413): retrying cannot help; the problem's detail says what to
    // change.
    let detail = "";
    try {
      const problem = await response.json();
      if (typeof problem.detail === "string") detail = problem.detail;
    } catch {
      // Not problem+json (a proxy's error page): fall back to the status.
    }
    return new RequestFailed(detail || `The request was refused (HTTP ${response.status}).`, false);
  }

  /** A history turn as the API takes it: the question and, when answered, where its first
   * citation and answer words lie (so the server need not ask the question again). */
  function turn(question, answer) {
    const first = answer.answerable ? answer.citations[0] : undefined;
    if (!first) return { question };
    const cited = { start: first.start, end: first.end };
    const words = first.answer_span?.text;
    return words ? { question, cited, answer: words } : { question, cited };
  }

  async function ask(api, body) {
    let response;
    try {
      response = await fetch(`${api.replace(/\/+$/, "")}/v1/ask`, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (error) {
      const slow = error?.name === "TimeoutError";
      throw new RequestFailed(
        slow
          ? "The server took too long to answer."
          : "Could not reach the server. Check your connection.",
        true,
      );
    }
    if (!response.ok) throw await failure(response);
    try {
      return await response.json();
    } catch {
      throw new RequestFailed("The server sent an unreadable answer. Please retry.", true);
    }
  }

  // ---- The element -----------------------------------------------------------------------------

  class ArticleQAChat extends HTMLElement {
    #root = null;
    #launcher;
    #panel;
    #log;
    #input;
    #send;
    // Earlier turns, oldest first, with where each answer was cited: the follow-up context.
    #asked = [];
    #busy = false;
    #answeredId = null; // the article_id of the first answer to a question by URL

    connectedCallback() {
      if (this.#root) return; // moved within the page: keep the conversation
      this.#root = this.attachShadow({ mode: "open" });
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(STYLE);
      // A constructed sheet rather than <style>: it works on pages whose CSP forbids inline style.
      this.#root.adoptedStyleSheets = [sheet];
      this.#build();
    }

    get #api() {
      return this.getAttribute("api") || location.origin;
    }

    /** How /v1/ask names the article: by id, or by URL until an answer has said its id. */
    get #article() {
      const id = this.#answeredId || this.getAttribute("article-id");
      const url = this.getAttribute("article-url");
      return id || !url ? { article_id: id || "default" } : { article_url: url };
    }

    #articleContainer() {
      const selector = this.getAttribute("article-selector");
      try {
        return selector ? document.querySelector(selector) : null;
      } catch {
        return null; // an invalid selector: answers still work, only highlighting is off
      }
    }

    #build() {
      const title = "Ask about this article";
      this.#launcher = h(
        "button",
        {
          class: "launcher",
          type: "button",
          "aria-expanded": "false",
          "aria-controls": "panel",
          onclick: () => this.open(),
        },
        chatIcon(),
        title,
      );
      this.#log = h(
        "div",
        { class: "log", role: "log", "aria-live": "polite", "aria-label": "Conversation" },
        h(
          "p",
          { class: "msg hint" },
          "Answers are quoted word for word from the article, with numbered citations to " +
            "the sentences they come from.",
        ),
      );
      this.#input = h("input", {
        type: "text",
        "aria-label": "Question",
        placeholder: "Ask a question…",
        maxlength: "1000",
        autocomplete: "off",
        enterkeyhint: "send",
      });
      this.#send = h("button", { class: "send", type: "submit" }, "Send");
      const form = h(
        "form",
        {
          onsubmit: (event) => {
            event.preventDefault();
            this.#submit();
          },
        },
        this.#input,
        this.#send,
      );
      this.#panel = h(
        "section",
        {
          id: "panel",
          class: "panel",
          role: "dialog",
          "aria-modal": "false",
          "aria-labelledby": "panel-title",
          hidden: true,
          onkeydown: (event) => {
            if (event.key === "Escape") {
              event.preventDefault();
              this.close();
            }
          },
        },
        h(
          "header",
          {},
          h("h2", { id: "panel-title" }, title),
          h(
            "button",
            { class: "close", type: "button", "aria-label": "Close", onclick: () => this.close() },
            "×",
          ),
        ),
        this.#log,
        form,
      );
      this.#root.append(this.#launcher, this.#panel);
    }

    open() {
      this.#panel.hidden = false;
      this.#launcher.hidden = true;
      this.#launcher.setAttribute("aria-expanded", "true");
      this.#input.focus();
    }

    close() {
      this.#panel.hidden = true;
      this.#launcher.hidden = false;
      this.#launcher.setAttribute("aria-expanded", "false");
      this.#launcher.focus();
    }

    #submit() {
      const question = this.#input.value.trim();
      if (!question || this.#busy) return;
      this.#input.value = "";
      const bubble = h("p", { class: "msg user" }, question);
      this.#log.append(bubble);
      this.#request(bubble, {
        question,
        ...this.#article,
        top_k: TOP_K,
        history: this.#asked.slice(-HISTORY_LIMIT),
      });
    }

    /** Ask, showing "Thinking…" until the reply (or the error, with Retry) takes its place. */
    async #request(bubble, body) {
      this.#busy = true;
      this.#send.disabled = true;
      const thinking = h(
        "p",
        { class: "msg bot thinking" },
        h("span", { class: "dots", "aria-hidden": "true" }, h("i"), h("i"), h("i")),
        "Thinking…",
      );
      this.#log.append(thinking);
      this.#scrollLog(bubble, thinking);
      let reply;
      try {
        const answer = await ask(this.#api, body);
        reply = answer.answerable ? this.#answer(answer) : this.#declined(answer);
        this.#asked.push(turn(body.question, answer));
        if (body.article_url && typeof answer.article_id === "string") {
          this.#answeredId = answer.article_id; // follow-ups need no lookup (or fetch) by URL
        }
      } catch (error) {
        reply = this.#failed(error, bubble, body);
      } finally {
        this.#busy = false;
        this.#send.disabled = false;
      }
      thinking.replaceWith(reply);
      this.#scrollLog(bubble, reply);
    }

    /** Scroll the conversation to show `last` in full, but never past the top of `first`: a long
     * answer is read from its question down, not from its end up. */
    #scrollLog(first, last) {
      const log = this.#log;
      const top = first.offsetTop - 16;
      const bottom = last.offsetTop + last.offsetHeight + 16 - log.clientHeight;
      log.scrollTop = Math.min(Math.max(log.scrollTop, bottom), top);
    }

    /** The answer is quoted text with [n] markers; each marker becomes a citation button. The
     * words of each quote that answer the question (its answer_span) are in bold: the quote is
     * found in the text before its marker. */
    #answer(answer) {
      const byNumber = new Map(answer.citations.map((citation) => [citation.n, citation]));
      const source = h("div", { class: "source", hidden: true });
      const quote = h("p", { class: "quote" });
      const buttons = [];
      let last = 0;
      for (const match of answer.answer.matchAll(/\[(\d+)\]/g)) {
        const citation = byNumber.get(Number(match[1]));
        if (!citation) continue; // not a marker the API explained: leave it as text
        const segment = answer.answer.slice(last, match.index);
        const span = spanInQuote(citation);
        const at = span ? segment.lastIndexOf(citation.quote) : -1;
        if (at < 0) quote.append(segment);
        else {
          quote.append(
            segment.slice(0, at),
            ...emphasised(citation.quote, span),
            segment.slice(at + citation.quote.length),
          );
        }
        const button = h(
          "button",
          {
            class: "cite",
            type: "button",
            "aria-label": `Citation ${citation.n}`,
            "aria-expanded": "false",
            onclick: () => {
              for (const other of buttons)
                other.setAttribute("aria-expanded", String(other === button));
              this.#reveal(source, citation);
            },
          },
          String(citation.n),
        );
        buttons.push(button);
        quote.append(button);
        last = match.index + match[0].length;
      }
      quote.append(answer.answer.slice(last));
      return h(
        "div",
        { class: "msg bot answer" },
        h("span", { class: "label" }, "From the article"),
        quote,
        source,
      );
    }

    /** Point at the cited sentence in the article; show its passage with the quote marked (and
     * the answer's words in bold) when that adds context, or when the article is not on this
     * page to point at. */
    #reveal(source, citation) {
      const shown = this.#highlightInArticle(citation);
      const label = shown
        ? `Source ${citation.n} is highlighted in the article`
        : `Source ${citation.n}`;
      source.replaceChildren(h("span", { class: "label" }, label));
      if (!shown || citation.passage.text !== citation.quote) {
        // Offsets count code points; Array.from splits the passage into code points too.
        const passage = Array.from(citation.passage.text);
        const from = citation.start - citation.passage.start;
        const to = citation.end - citation.passage.start;
        const marked = passage.slice(from, to).join("");
        // Bold only when the passage really holds the quote there.
        const span = marked === citation.quote ? spanInQuote(citation) : null;
        source.append(
          h(
            "p",
            {},
            passage.slice(0, from).join(""),
            h("mark", {}, ...emphasised(marked, span)),
            passage.slice(to).join(""),
          ),
        );
      }
      source.hidden = false;
      this.#scrollLog(source.parentElement, source);
    }

    #highlightInArticle(citation) {
      const container = this.#articleContainer();
      const ranges = container ? citationRanges(container, citation) : { quote: [], answer: [] };
      if (!ranges.quote.length) return false;
      highlight(ranges.quote, ranges.answer);
      scrollToRange(ranges.quote[0], this.#panel);
      return true;
    }

    /** "Does not say" stays the answer; nearby sentences are tucked away and labelled as such. */
    #declined(answer) {
      const closest = answer.citations.length
        ? h(
            "details",
            {},
            h("summary", {}, "Closest passages (not an answer)"),
            h("ul", {}, ...answer.citations.map((citation) => h("li", {}, citation.quote))),
          )
        : null;
      return h("div", { class: "msg bot declined" }, h("p", {}, answer.answer), closest);
    }

    #failed(error, bubble, body) {
      const message =
        error instanceof RequestFailed ? error.message : "Something went wrong. Please retry.";
      const box = h("div", { class: "msg bot error" }, h("p", {}, message));
      if (error instanceof RequestFailed && !error.retryable) return box;
      box.append(
        h(
          "button",
          {
            class: "retry",
            type: "button",
            onclick: () => {
              if (this.#busy) return;
              box.remove();
              this.#input.focus(); // the Retry button is gone; keep focus in the widget
              this.#request(bubble, body);
            },
          },
          "Retry",
        ),
      );
      return box;
    }
  }

  customElements.define(TAG, ArticleQAChat);

  /** The article attribute, as the header says: { "article-id" } or { "article-url" }. Read
   * once the page's head is parsed, so that its canonical link is there. */
  function namedArticle() {
    if (DATA.articleId) return { "article-id": DATA.articleId };
    const canonical = document.querySelector('link[rel~="canonical" i][href]');
    if (DATA.articleUrl === undefined && !canonical) return { "article-id": "default" };
    const given = DATA.articleUrl || canonical?.href || location.href;
    try {
      const url = new URL(given, document.baseURI);
      url.hash = ""; // not part of the address
      return { "article-url": url.href };
    } catch {
      return { "article-url": given }; // not a URL: the server's 422 says what is wrong
    }
  }

  function mount() {
    const element = document.createElement(TAG);
    const attributes = { ...SETTINGS, ...namedArticle() };
    for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
    document.body.append(element);
  }

  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount, { once: true });
})();
