// lookout's service worker. It does one thing: show the notifications the
// pages ask for (a phone's browser will not show them from a page) and
// bring lookout forward when one is tapped. It caches nothing: case data
// must not be stored on the device.
'use strict';
self.addEventListener('install', function () { self.skipWaiting(); });
self.addEventListener('activate', function (e) { e.waitUntil(self.clients.claim()); });
self.addEventListener('notificationclick', function (e) {
  e.notification.close();
  e.waitUntil(self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then(function (cs) {
    for (var i = 0; i < cs.length; i++) {
      if ('focus' in cs[i]) return cs[i].focus();
    }
    return self.clients.openWindow('/');
  }));
});
