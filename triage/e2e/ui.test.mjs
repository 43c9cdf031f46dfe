// Browser tests of the volunteer UI, in headless Debian Chromium driven by
// Playwright. The Go test TestBrowserUI starts lookout (real Redis, kfake),
// feeds posts (one of them hostile) and runs this file with:
//   LOOKOUT_URL        base URL of the service
//   LOOKOUT_PASSWORD   password of the users volunteer, volunteer2, supervisor,
//                      moderator and admin
//   LOOKOUT_FEED       POST {"author","text"} here puts a post on the topic
//   SCREENSHOT_DIR     where to save the screenshots
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const base = process.env.LOOKOUT_URL;
const password = process.env.LOOKOUT_PASSWORD;
const shots = process.env.SCREENSHOT_DIR || 'screenshots';
mkdirSync(shots, { recursive: true });

const phone = { viewport: { width: 360, height: 740 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
const desktop = { viewport: { width: 1280, height: 860 } };

let browser;
before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
});
after(async () => { await browser?.close(); });

// newUser opens a fresh context (its own cookies) and logs in. Any dialog
// (alert) or page error fails the test: a hostile post must do nothing.
async function newUser(name, device = phone, options = {}) {
  const ctx = await browser.newContext({ ...device, locale: 'zh-CN', ...options });
  const page = await ctx.newPage();
  page.on('dialog', async (d) => { await d.dismiss(); throw new Error('a dialog opened: ' + d.message()); });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.errors = errors;
  await page.goto(base + '/login');
  await page.fill('input[name=name]', name);
  await page.fill('input[name=password]', password);
  await page.click('button[type=submit].primary');
  await page.waitForURL(base + '/');
  return { ctx, page };
}

// notifications reads back, through the page's service worker, the
// system notifications shown (of one tag, if given), waiting up to 5 s
// for the first.
async function notifications(page, tag) {
  return page.evaluate(async (tag) => {
    const reg = await navigator.serviceWorker.ready;
    for (let i = 0; i < 50; i++) {
      const ns = await reg.getNotifications(tag ? { tag } : {});
      if (ns.length) return ns.map((n) => ({ title: n.title, body: n.body }));
      await new Promise((r) => setTimeout(r, 100));
    }
    return [];
  }, tag);
}

let caseURL; // the case volunteer takes with "next"

// letGoOfAll ends the user's shift: a test that takes cases starts with
// none held, whatever an earlier test left behind.
async function letGoOfAll(page) {
  const r = await page.request.post(base + '/mine/release-all', { maxRedirects: 0 });
  assert.equal(r.status(), 303);
}

// shanghai writes a time as the pages do, in the service's zone.
function shanghai(ms) {
  const p = {};
  new Intl.DateTimeFormat('en-US', { timeZone: 'Asia/Shanghai', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
    .formatToParts(new Date(ms)).forEach((x) => { p[x.type] = x.value; });
  return `${p.month}-${p.day} ${p.hour}:${p.minute}`;
}

test('volunteer takes the next case, reads the evidence, adds a note, resolves', async () => {
  // The phone is in another zone than the service (Asia/Shanghai): the
  // pages' times, the renewed lease's end included, are the service's.
  const { ctx, page } = await newUser('volunteer', phone, { timezoneId: 'America/New_York' });
  // The queue, in Chinese, most urgent first, with countdowns.
  await page.waitForSelector('#queue-rows tr');
  assert.match(await page.textContent('button.primary.big'), /下一个/);
  const levels = await page.$$eval('#queue-rows .level', (els) => els.map((e) => +e.textContent));
  assert.ok(levels.length >= 3, 'queue has cases');
  assert.deepEqual(levels, [...levels].sort((a, b) => b - a), 'sorted by level');
  await page.waitForFunction(() => document.querySelector('.countdown')?.textContent.length > 0);
  await page.screenshot({ path: join(shots, 'queue-phone.png'), fullPage: false });
  // No horizontal scrolling at 360 px.
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), 'fits 360 px');

  await page.click('button.primary.big');
  await page.waitForURL(/\/cases\//);
  caseURL = page.url();
  assert.match(await page.textContent('.flash'), /已领取/);
  // Evidence highlighted and labelled; the handle shown to the holder.
  const marks = await page.$$eval('mark.ev', (els) => els.map((e) => e.className));
  assert.ok(marks.length > 0, 'evidence is highlighted');
  assert.ok(await page.isVisible('.evlabel'), 'evidence is labelled');
  assert.ok((await page.textContent('.author')).startsWith('author-'), 'holder sees the author');
  assert.ok(await page.isVisible('.safety'), 'safety text on the case page');
  assert.match(await page.textContent('.safety'), /400-161-9995/);
  await page.screenshot({ path: join(shots, 'case-phone.png'), fullPage: true });

  await page.fill('textarea[name=text]', '已私信，等待回复');
  const renewed = page.waitForResponse((r) => r.url().endsWith('/renew') && r.ok());
  await page.click('form[action$="/notes"] button');
  await page.waitForSelector('.flash.ok');
  const deadline = Date.parse((await (await renewed).json()).deadline);
  // The page writes the renewal within moments of its answer; then its
  // text is the page's own writing, not the server-rendered one.
  await page.waitForTimeout(500);
  const shown = await page.textContent('#lease .deadline');
  assert.ok([shanghai(deadline), shanghai(deadline + 1000)].includes(shown), `lease until ${shown}, want ${shanghai(deadline)} (Asia/Shanghai)`);
  assert.match(await page.textContent('footer.zone'), /Asia\/Shanghai/);
  assert.match(await page.textContent('.flash'), /备注已添加/);
  assert.match(await page.textContent('.note'), /已私信，等待回复/);

  // Off to Weibo to wait for the reply: the case is kept for the hold
  // (an hour; 20 minutes at the emergency level, 9-10), not the lease,
  // and the lease line says until when.
  const before = await page.textContent('#lease .deadline');
  const level = +(await page.textContent('h1')).match(/\d+/)[0];
  assert.match(await page.textContent('form.await'), new RegExp(`保留 ${level >= 9 ? 20 : 60} 分钟`));
  await page.click('form.await button');
  await page.waitForURL(/msg=msg_awaiting/);
  assert.match(await page.textContent('.flash'), /个案已为你保留/);
  assert.notEqual(await page.textContent('#lease .deadline'), before, 'the lease ends later');
  assert.match(await page.textContent('#activity'), /等待对方回复/);
  await page.screenshot({ path: join(shots, 'case-awaiting-phone.png'), fullPage: false });
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), 'fits 360 px');

  // Resolve needs an outcome: the browser refuses the empty form.
  await page.click('#resolve-form button[type=submit]');
  assert.ok(page.url().includes('/cases/'), 'empty outcome not submitted');
  await page.selectOption('#resolve-form select[name=outcome]', 'reached_referred');
  await page.click('#resolve-form button[type=submit]');
  await page.waitForURL(base + '/?msg=msg_resolved');
  assert.match(await page.textContent('.flash'), /已结案/);
  assert.deepEqual(page.errors, []);
  await ctx.close();
});

test('another volunteer cannot see a held case; a supervisor sees the escalation', async () => {
  const a = await newUser('volunteer');
  await a.page.click('button.primary.big');
  await a.page.waitForURL(/\/cases\//);
  const held = a.page.url();
  const heldPath = new URL(held).pathname;

  const b = await newUser('volunteer2');
  const resp = await b.page.goto(held);
  assert.equal(resp.status(), 403);
  assert.match(await b.page.textContent('body'), /你无权查看此个案/);
  assert.equal(await b.page.$('.author'), null);

  // The supervisor's page is open before the escalation and is not reloaded.
  // Notifications granted by the browser and turned on for this device.
  const s = await newUser('supervisor', desktop, { permissions: ['notifications'] });
  await s.page.goto(base + '/supervisor');
  assert.equal((await s.page.textContent('#notify')).trim(), '开启本设备的紧急通知');
  await s.page.click('#notify');
  await s.page.waitForFunction(() => document.getElementById('notify').getAttribute('aria-pressed') === 'true');
  assert.equal((await s.page.textContent('#notify')).trim(), '关闭本设备的紧急通知');
  await s.page.evaluate(() => navigator.serviceWorker.ready);
  const waitingBefore = await s.page.$$eval('[data-waiting]', (els) => els.length);
  assert.equal(await s.page.title(), (waitingBefore > 0 ? `(${waitingBefore}) ` : '') + '督导 · 守望');

  await a.page.selectOption('form[action$="/escalate"] select[name=reason]', 'imminent_danger');
  await a.page.click('form[action$="/escalate"] button');
  await a.page.waitForSelector('.flash.ok');
  assert.match(await a.page.textContent('.flash'), /已升级/);

  // Within one refresh (10 s) the escalation shows, and the tab's title counts it.
  await s.page.waitForSelector(`tr.escalated a[href="${heldPath}"]`, { timeout: 15000 });
  const waiting = await s.page.$$eval('[data-waiting]', (els) => els.length);
  assert.ok(waiting >= 1, 'the escalation waits');
  assert.equal(await s.page.title(), `(${waiting}) 督导 · 守望`);
  // A system notification says so: a count, no text of the post.
  const shown = await notifications(s.page);
  assert.equal(shown.length, 1, 'one notification');
  assert.match(shown[0].title, /有新的紧急个案/);
  assert.match(shown[0].body, new RegExp(`等待中的紧急或升级个案：${waiting}`));
  // The escalation can be handed to a named volunteer.
  assert.ok(await s.page.isVisible(`tr.escalated form[action="${heldPath}/assign"] select[name=to]`), 'assign form');
  await s.page.screenshot({ path: join(shots, 'supervisor-desktop.png'), fullPage: true });
  assert.deepEqual(s.page.errors, []);
  await a.ctx.close(); await b.ctx.close(); await s.ctx.close();
});

test('a list that cannot refresh says so instead of going quiet', async () => {
  // One volunteer's session ends (logged out elsewhere); another's server
  // cannot be reached. Both pages stay open.
  const a = await newUser('volunteer2');
  const b = await newUser('volunteer2');
  assert.equal(await a.page.$('#refresh-note'), null);
  const out = await a.ctx.request.post(base + '/api/v1/logout');
  assert.equal(out.status(), 204);
  await b.page.route('**/queue/rows**', (route) => route.abort());
  await a.page.waitForSelector('#refresh-note:not([hidden])', { timeout: 15000 });
  assert.match(await a.page.textContent('#refresh-note'), /登录已过期/);
  assert.match(await a.page.getAttribute('#refresh-note a', 'href'), /^\/login\?next=%2F/);
  await b.page.waitForSelector('#refresh-note:not([hidden])', { timeout: 30000 });
  assert.match(await b.page.textContent('#refresh-note'), /无法刷新.*最后更新于 \d\d-\d\d \d\d:\d\d:\d\d/);
  // Reachable again: the notice goes at the next refresh.
  await b.page.unroute('**/queue/rows**');
  await b.page.waitForSelector('#refresh-note', { state: 'hidden', timeout: 15000 });
  assert.deepEqual(a.page.errors, []);
  await a.ctx.close(); await b.ctx.close();
});

test('countdowns keep the server\'s time on a phone whose clock is 10 minutes fast', async () => {
  const { ctx, page } = await newUser('volunteer2');
  await page.clock.install({ time: Date.now() + 10 * 60_000 });
  await page.reload();
  await page.waitForFunction(() => document.querySelector('.countdown')?.textContent.length > 0);
  // Each claim target's countdown, in seconds (negative once past it),
  // against the time left by this machine's clock, the server's.
  const rows = await page.$$eval('.countdown[data-target]', (els) => els.map((e) => {
    const m = e.textContent.match(/(?:(\d+):)?(\d+):(\d\d)/);
    const secs = (+(m[1] || 0)) * 3600 + (+m[2]) * 60 + (+m[3]);
    return { target: +e.getAttribute('data-target'), shown: e.classList.contains('overdue') ? -secs : secs };
  }));
  assert.ok(rows.length > 0, 'the queue has countdowns');
  for (const r of rows) {
    const left = (r.target - Date.now()) / 1000;
    assert.ok(Math.abs(r.shown - left) < 5, `countdown ${r.shown} s, ${Math.round(left)} s left by the server's clock`);
  }
  // A renewed lease's end is written by the server's clock too, as the
  // server wrote it when the page was rendered.
  await letGoOfAll(page);
  const renewed = page.waitForResponse((r) => r.url().endsWith('/renew') && r.ok());
  await page.click('button.primary.big');
  await page.waitForURL(/\/cases\//);
  const deadline = Date.parse((await (await renewed).json()).deadline);
  await page.waitForTimeout(500);
  const shown = await page.textContent('#lease .deadline');
  assert.ok([shanghai(deadline), shanghai(deadline + 1000)].includes(shown), `lease until ${shown}, want ${shanghai(deadline)} by the server's clock`);
  await letGoOfAll(page);
  assert.deepEqual(page.errors, []);
  await ctx.close();
});

test('the app can be added to a phone\'s home screen', async () => {
  // An iPhone shows a web page's notifications only once it is on the
  // home screen; Chromium says whether the page is installable.
  const { ctx, page } = await newUser('volunteer2');
  const cdp = await ctx.newCDPSession(page);
  const m = await cdp.send('Page.getAppManifest');
  assert.match(m.url, /\/static\/manifest\.json$/);
  assert.deepEqual(m.errors, [], 'the manifest parses');
  // Playwright's contexts are incognito, where nothing installs; any
  // other reason (no icon of the size, a bad start URL…) fails.
  const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors');
  assert.deepEqual(installabilityErrors.map((e) => e.errorId).filter((id) => id !== 'in-incognito'), [], 'installable');
  assert.deepEqual(page.errors, []);
  await ctx.close();
});

test('a hostile post does nothing', async () => {
  const { ctx, page } = await newUser('supervisor', desktop);
  await page.goto(base + '/?level_min=0');
  const link = await page.$$eval('#queue-rows a', (els) => els.filter((e) => e.textContent.includes('hostile')).map((e) => e.getAttribute('href')));
  assert.ok(link.length > 0, 'hostile post is in the queue');
  const queueText = await page.textContent('#queue-rows');
  assert.ok(!queueText.includes('\u202e'), 'no bidi override in the queue');
  await page.goto(base + link[0]);
  assert.equal(await page.evaluate(() => window.__pwned), undefined, 'no script ran');
  assert.equal(await page.$$eval('script', (els) => els.filter((e) => !e.src).length), 0, 'no inline script element');
  const hrefs = await page.$$eval('a', (els) => els.map((e) => e.getAttribute('href') || ''));
  assert.ok(hrefs.every((h) => !h.toLowerCase().startsWith('javascript:')), 'no javascript: link');
  const text = await page.textContent('.post .text');
  assert.ok(text.includes('<script>'), 'markup shown as text');
  assert.ok(!text.includes('\u202e'), 'bidi override removed');
  const csp = (await page.goto(page.url())).headers()['content-security-policy'];
  assert.match(csp, /script-src 'self'/);
  assert.deepEqual(page.errors, []);
  await ctx.close();
});

test('desktop screenshots and the English switch', async () => {
  const { ctx, page } = await newUser('volunteer2', desktop);
  await page.screenshot({ path: join(shots, 'queue-desktop.png') });
  await page.click('button.primary.big');
  await page.waitForURL(/\/cases\//);
  await page.screenshot({ path: join(shots, 'case-desktop.png'), fullPage: true });
  await page.click('form[action="/lang"] button');
  await page.waitForSelector('text=Lookout');
  assert.match(await page.textContent('h1'), /Level \d+/);
  await page.goto(base + '/');
  assert.match(await page.textContent('button.primary.big'), /Next case/);
  await ctx.close();
});

// contrasts returns, for each element matching selector, its text's WCAG
// contrast ratio against the background it is drawn on (its own or the
// nearest ancestor's that is not transparent).
async function contrasts(page, selector) {
  return page.$$eval(selector, (els) => els.map((el) => {
    const rgba = (c) => { const v = c.match(/[\d.]+/g).map(Number); return v.length === 3 ? [...v, 1] : v; };
    const lum = ([r, g, b]) => {
      const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    let bg = [255, 255, 255, 1];
    for (let e = el; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c[3] > 0) { bg = c; break; }
    }
    const [a, b] = [lum(rgba(getComputedStyle(el).color)), lum(bg)];
    return { what: el.tagName + '.' + el.className, ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05) };
  }));
}

test('the queue and a case are readable in the light and the dark scheme', async () => {
  for (const scheme of ['light', 'dark']) {
    const ctx = await browser.newContext({ ...phone, locale: 'zh-CN', colorScheme: scheme });
    const page = await ctx.newPage();
    await page.goto(base + '/login');
    await page.fill('input[name=name]', 'volunteer2');
    await page.fill('input[name=password]', password);
    await page.click('button[type=submit].primary');
    await page.waitForURL(base + '/');
    const bodyBg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    const dark = bodyBg.match(/\d+/g).slice(0, 3).every((v) => +v < 60);
    assert.equal(dark, scheme === 'dark', `${scheme} scheme: body background ${bodyBg}`);
    const checked = ['body', '.hint', 'th', '#queue-rows a', '.sub', 'button', 'select', '.top a'];
    let ratios = await contrasts(page, checked.join(', '));
    // A case page, read without claiming it: evidence, safety text, forms.
    await page.goto(base + (await page.getAttribute('#queue-rows a', 'href')));
    await page.waitForSelector('mark.ev');
    ratios = ratios.concat(await contrasts(page, 'mark.ev, .evlabel, .safety, .meta, .why, .card h1, .card h2, label, button, .post .text, a'));
    assert.ok(ratios.length > 20, 'elements were measured');
    const low = ratios.filter((r) => r.ratio < 4.5);
    assert.deepEqual(low, [], `${scheme} scheme: text under 4.5:1 contrast`);
    if (scheme === 'dark') await page.screenshot({ path: join(shots, 'case-phone-dark.png'), fullPage: true });
    await ctx.close();
  }
});

test('a moderator previews, saves and sees the history of a threshold change', async () => {
  const { ctx, page } = await newUser('moderator', desktop);
  await page.goto(base + '/moderator');
  assert.equal(await page.inputValue('input[name=queue_level]'), '6');
  // A bad value is refused with the field named.
  await page.fill('input[name=lease]', 'forever');
  await page.click('#preview-button');
  assert.match(await page.textContent('#settings-error'), /lease/);
  await page.fill('input[name=lease]', '15m0s');
  // Durations are shown plainly (15m, 30d, not 15m0s, 720h0m0s) and read with days.
  assert.equal(await page.inputValue('input[name=retention]'), '30d');
  await page.fill('input[name=retention]', '14d');
  // Preview: what queue level 5 would have produced over the last day.
  await page.fill('input[name=queue_level]', '5');
  await page.click('#preview-button');
  await page.waitForSelector('#preview table');
  const rows = await page.$$eval('#preview tbody tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent.trim())));
  assert.equal(rows.length, 11);
  const posts = rows.reduce((a, r) => a + +r[1], 0);
  assert.ok(posts > 0, 'the preview counts recorded scores');
  const now = rows.reduce((a, r) => a + +r[2], 0), proposed = rows.reduce((a, r) => a + +r[3], 0);
  assert.ok(proposed >= now, 'a lower queue level queues at least as many posts');
  // Save with a reason; the history shows the new version.
  await page.fill('input[name=why]', '夜间志愿者充足，放宽入队等级');
  await page.click('#save-button');
  await page.waitForSelector('.flash.ok');
  assert.match(await page.textContent('.flash'), /设置已保存/);
  assert.equal(await page.inputValue('input[name=queue_level]'), '5');
  assert.equal(await page.inputValue('input[name=retention]'), '14d');
  assert.equal(await page.inputValue('input[name=lease]'), '15m');
  assert.match(await page.textContent('#history'), /放宽入队等级/);
  await page.screenshot({ path: join(shots, 'moderator-desktop.png'), fullPage: true });
  await ctx.close();
});

test('an admin adds a volunteer on a phone; the volunteer logs in with the password shown once and changes it', async () => {
  const { ctx, page } = await newUser('admin');
  await page.click('nav a[href="/admin/users"]');
  await page.fill('input[name=name]', 'new.volunteer');
  await page.selectOption('form[action="/admin/users"] select[name=role]', 'volunteer');
  await page.click('form[action="/admin/users"] button.primary');
  const shown = (await page.textContent('code.secret')).trim();
  assert.ok(shown.length >= 10, 'a generated password is shown');
  assert.ok(!page.url().includes(shown), 'the password is not in the URL');
  assert.equal(await page.$eval('li.account:has(b.holder:text-is("new.volunteer")) select[name=role]', (el) => el.value), 'volunteer');
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), 'the accounts page fits 360 px');
  await page.screenshot({ path: join(shots, 'accounts-phone.png'), fullPage: true });
  let ratios = await contrasts(page, '.card h1, .card h2, li.account p, button, select, .hint, .secret');
  // The audit log names the addition, in words, by who did it.
  await page.click('nav a[href="/audit"]');
  await page.selectOption('select[name=action]', 'user_added');
  await page.click('form.filters button.primary');
  assert.match(await page.textContent('table.audit tbody tr'), /admin\s*添加账户[\s\S]*user=new\.volunteer/);
  await page.screenshot({ path: join(shots, 'audit-phone.png'), fullPage: false });
  ratios = ratios.concat(await contrasts(page, 'th, td, label, select, .hint, a'));
  await ctx.close();

  const v = await browser.newContext({ ...phone, locale: 'zh-CN' });
  const vp = await v.newPage();
  await vp.goto(base + '/login');
  await vp.fill('input[name=name]', 'new.volunteer');
  await vp.fill('input[name=password]', shown);
  await vp.click('button[type=submit].primary');
  await vp.waitForURL(base + '/');
  await vp.click('a.who');
  await vp.fill('input[name=current]', shown);
  await vp.fill('input[name=new]', 'my-own-password-1');
  await vp.fill('input[name=again]', 'my-own-password-1');
  await vp.click('form[action="/account/password"] button.primary');
  await vp.waitForSelector('.flash.ok');
  assert.match(await vp.textContent('.flash'), /密码已修改/);
  ratios = ratios.concat(await contrasts(vp, '.card h1, .card h2, label, button, .hint, .flash, .top a'));
  assert.deepEqual(ratios.filter((r) => r.ratio < 4.5), [], 'text under 4.5:1 contrast');
  // Still logged in (the cookie was renewed); the new password works, the old one not.
  await vp.goto(base + '/');
  assert.equal(vp.url(), base + '/');
  await v.close();
  const w = await browser.newContext({ ...phone, locale: 'zh-CN' });
  const wp = await w.newPage();
  await wp.goto(base + '/login');
  await wp.fill('input[name=name]', 'new.volunteer');
  await wp.fill('input[name=password]', 'my-own-password-1');
  await wp.click('button[type=submit].primary');
  await wp.waitForURL(base + '/');
  await w.close();
});

test('a case page left untouched stops renewing its lease and asks', async () => {
  const { ctx, page } = await newUser('volunteer2');
  await letGoOfAll(page);
  await page.clock.install();
  let renewals = 0;
  page.on('request', (r) => { if (r.url().endsWith('/renew')) renewals++; });
  // Each wait for a renewal starts before what causes it (its answer can
  // come back before the next line runs).
  const first = page.waitForResponse((r) => r.url().endsWith('/renew'));
  await page.click('button.primary.big');
  await page.waitForURL(/\/cases\//);
  await first;
  assert.ok(await page.isHidden('#idle'), 'no question while the holder is there');

  // 29 minutes on: still renewed. 31: the page asks and renews no more.
  renewals = 0;
  const at29 = page.waitForResponse((r) => r.url().endsWith('/renew'));
  await page.clock.fastForward('29:00');
  await at29;
  assert.ok(await page.isHidden('#idle'));
  renewals = 0;
  await page.clock.fastForward('02:00');
  await page.waitForSelector('#idle', { state: 'visible' });
  assert.match(await page.textContent('#idle'), /30 分钟没有操作.*租约到期时个案回到原处/s);
  assert.match(await page.textContent('#idle .deadline'), /\d/);
  await page.screenshot({ path: join(shots, 'case-idle-phone.png'), fullPage: false });
  await page.clock.fastForward('05:00');
  await page.waitForTimeout(300);
  assert.equal(renewals, 0, 'no renewal while the question waits');

  // The answer renews at once and the question goes.
  const renewed = page.waitForResponse((r) => r.url().endsWith('/renew') && r.ok());
  await page.click('#idle-keep');
  await renewed;
  assert.ok(await page.isHidden('#idle'));
  // Back on the page from another app: renewed at once.
  const onReturn = page.waitForResponse((r) => r.url().endsWith('/renew') && r.ok());
  await page.evaluate(() => document.dispatchEvent(new Event('visibilitychange')));
  await onReturn;

  // Taken back by a supervisor meanwhile: the next renewal says the lease
  // is lost, and the page leads back to the case, to take it again.
  await page.fill('form[action$="/notes"] textarea[name=text]', '正在私信');
  const s = await newUser('supervisor', desktop);
  const id = new URL(page.url()).pathname.split('/')[2];
  const back = await s.page.request.post(base + '/cases/' + id + '/reassign', { maxRedirects: 0 });
  assert.equal(back.status(), 303);
  await s.ctx.close();
  await page.clock.fastForward('01:00');
  await page.waitForSelector('#lease-lost', { state: 'visible' });
  assert.match(await page.textContent('#lease-lost'), /租约已失效/);
  assert.ok(await page.isDisabled('form[action$="/resolve"] button'), 'the holder\'s actions stop');
  assert.equal(await page.inputValue('form[action$="/notes"] textarea[name=text]'), '正在私信', 'the draft note is kept');
  assert.equal(await page.getAttribute('#lease-lost-next a[href^="/cases/"]', 'href'), '/cases/' + id, 'a way back to the case');
  // What the volunteer learned is not lost with the lease: the note goes
  // in, as one who held the case.
  await page.click('form[action$="/notes"] button');
  await page.waitForURL(/msg=msg_noted/);
  assert.match(await page.textContent('section.card:has(#add-note)'), /volunteer2.*正在私信/s);
  await page.waitForSelector('form[action$="/claim"] button');
  await page.click('form[action$="/claim"] button');
  await page.waitForSelector('#lease');
  await page.click('form[action$="/release"] button');
  await page.waitForURL(/msg=msg_released/);
  assert.deepEqual(page.errors, []);
  await ctx.close();
});

test('the holder learns that the person has posted again', async () => {
  const { ctx, page } = await newUser('volunteer2', phone, { permissions: ['notifications'] });
  await letGoOfAll(page);
  // Notifications on for this device, as with the queue's switch.
  await page.evaluate(async () => {
    localStorage.setItem('lookout-notify', '1');
    await navigator.serviceWorker.register('/sw.js');
    await navigator.serviceWorker.ready;
  });
  const first = page.waitForResponse((r) => r.url().endsWith('/renew'));
  await page.click('button.primary.big');
  await page.waitForURL(/\/cases\//);
  await first;
  assert.ok(await page.isHidden('#case-news'));
  // The page is in the background (the volunteer is writing to the person).
  await page.evaluate(() => Object.defineProperty(document, 'hidden', { configurable: true, get: () => true }));
  const author = (await page.textContent('.author')).trim();
  const fed = await fetch(process.env.LOOKOUT_FEED, {
    method: 'POST', body: JSON.stringify({ author, text: '我已经吃了一整瓶安眠药，再见了' }),
  });
  assert.equal(fed.status, 204);
  // Each look renews at once (as when the page is shown again) until the
  // post has gone through Kafka, the model and Redis.
  for (let i = 0; i < 60 && await page.isHidden('#case-news'); i++) {
    const renewed = page.waitForResponse((r) => r.url().endsWith('/renew'));
    await page.evaluate(() => document.dispatchEvent(new Event('visibilitychange')));
    await renewed;
    await page.waitForTimeout(500);
  }
  assert.match(await page.textContent('#case-news'), /又发了新帖子/);
  assert.equal(await page.textContent('#case-news .lvl'), '10');
  assert.match(await page.title(), /^\(!\) /);
  const shown = await notifications(page, 'lookout-case-news');
  assert.deepEqual(shown, [{ title: '你处理的个案有新帖子', body: '现在的等级：10。打开页面查看。' }], 'one notification, the level only');
  await page.screenshot({ path: join(shots, 'case-news-phone.png'), fullPage: false });
  await page.click('#case-news a');
  await page.waitForSelector('#lease');
  assert.match(await page.textContent('article.post'), /吃了一整瓶/, 'the new post first');
  assert.ok(await page.isHidden('#case-news'), 'read: no news');
  // A supervisor notes the case (police called): the holder hears of it at
  // the next renewal, with a notification in the background (no text).
  await page.evaluate(() => Object.defineProperty(document, 'hidden', { configurable: true, get: () => true }));
  const s = await newUser('supervisor', desktop);
  const noted = await s.page.request.post(page.url().split('?')[0] + '/notes', { form: { text: '已报警，警方在路上' }, maxRedirects: 0 });
  assert.equal(noted.status(), 303);
  await s.ctx.close();
  const afterNote = page.waitForResponse((r) => r.url().endsWith('/renew'));
  await page.evaluate(() => document.dispatchEvent(new Event('visibilitychange')));
  await afterNote;
  await page.waitForSelector('#case-note-news', { state: 'visible' });
  assert.match(await page.textContent('#case-note-news'), /添加了备注/);
  assert.doesNotMatch(await page.textContent('#case-note-news'), /警方/, 'the notice has no text');
  assert.deepEqual(await notifications(page, 'lookout-case-note'), [{ title: '你处理的个案有新备注', body: '打开页面阅读。' }]);
  await page.click('#case-note-news a');
  await page.waitForSelector('#lease');
  assert.match(await page.textContent('section.card:has(#add-note)'), /supervisor.*已报警/s, 'the note on the reload');
  await page.click('form[action$="/release"] button');
  await page.waitForURL(/msg=msg_released/);
  assert.deepEqual(page.errors, []);
  await ctx.close();
});

test('My cases keeps every lease it lists and says what changed', async () => {
  const { ctx, page } = await newUser('volunteer2');
  await letGoOfAll(page);
  const held = [];
  for (let i = 0; i < 2; i++) {
    await page.goto(base + '/');
    await page.click('button.primary.big');
    await page.waitForURL(/\/cases\//);
    held.push({ id: new URL(page.url()).pathname.split('/')[2], author: (await page.textContent('.author')).trim() });
  }
  const renewed = new Set();
  page.on('request', (r) => {
    const m = r.url().match(/\/api\/v1\/cases\/([^/]+)\/renew$/);
    if (m) renewed.add(decodeURIComponent(m[1]));
  });
  await page.goto(base + '/mine');
  const rows = await page.$$eval('p[data-lease]', (els) => els.map((e) => e.getAttribute('data-case')));
  for (const h of held) assert.ok(rows.includes(h.id), 'listed: ' + h.id);
  for (let i = 0; i < 50 && renewed.size < rows.length; i++) await page.waitForTimeout(100);
  assert.deepEqual([...renewed].sort(), rows.sort(), 'every listed lease renewed');

  // The first person posts again; a supervisor takes the second case back.
  const fed = await fetch(process.env.LOOKOUT_FEED, {
    method: 'POST', body: JSON.stringify({ author: held[0].author, text: '药已经吃下去了，再见了' }),
  });
  assert.equal(fed.status, 204);
  const s = await newUser('supervisor', desktop);
  assert.equal((await s.page.request.post(base + '/cases/' + held[1].id + '/reassign', { maxRedirects: 0 })).status(), 303);
  await s.ctx.close();
  const news = `p[data-case="${held[0].id}"] .news`, lost = `p[data-case="${held[1].id}"] .lost`;
  for (let i = 0; i < 60 && (await page.isHidden(news) || await page.isHidden(lost)); i++) {
    await page.evaluate(() => document.dispatchEvent(new Event('visibilitychange')));
    await page.waitForTimeout(500);
  }
  assert.match(await page.textContent(news), /有新帖子 · 等级 \d+/);
  assert.match(await page.textContent(lost), /已不在你手上/);
  assert.ok(await page.isHidden(`p[data-case="${held[0].id}"] .lost`), 'the first is still held');
  assert.ok(await page.isHidden(`p[data-case="${held[1].id}"] .news`));
  await page.screenshot({ path: join(shots, 'mine-phone.png'), fullPage: true });
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), 'fits 360 px');
  assert.ok(await page.isVisible('table.history tbody tr:first-child td:nth-child(3)'), 'the history says what was done');
  await page.click('form[action="/mine/release-all"] button');
  await page.waitForURL(/msg=msg_released_all/);
  assert.deepEqual(page.errors, []);
  await ctx.close();
});
